"""Generation records to the portal: a bounded queue, batches of up to 1,000, retry with
exponential backoff, and a spool on disk (JSON lines) while the portal is down.

Each record's id is the proxy's call id: the portal stores an id once and counts a
replay as a duplicate, so a batch sent again after a lost answer, or replayed from the
spool, is never a second row.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import signal
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

from portal_litellm.client import portal_client, settings

logger = logging.getLogger(__name__)

MAX_BATCH = 1000  # the portal's limit per POST /internal/v1/generations
QUEUE_SIZE = 10_000
ATTEMPTS = 4  # then the batch goes to the spool
FIRST_BACKOFF = 0.25
MAX_BACKOFF = 30.0
SPOOL_NAME = "generations.jsonl"


class Shipper:
    def __init__(
        self,
        spool_dir: str | None = None,
        linger: float = 0.2,
        client: httpx.AsyncClient | None = None,
        exit_client: httpx.Client | None = None,
        flush_at_exit: bool = True,
        watch_signals: bool = True,
    ) -> None:
        self.spool = Path(spool_dir or settings().spool_dir) / SPOOL_NAME
        self.linger = linger
        self._client = client
        self._exit_client = exit_client
        # The batch being sent: at exit it is sent again with the queue (the portal
        # counts it as duplicates if it had arrived).
        self._in_flight: list[dict] = []
        self._replay_lock: asyncio.Lock | None = None
        self.stopping = False
        self._watch_signals = watch_signals
        self.queue: asyncio.Queue[dict] | None = None
        self.task: asyncio.Task | None = None
        self._spool_lock = threading.Lock()
        self._backoff = 0.0
        if flush_at_exit:
            atexit.register(self.flush_at_exit)

    # --- producer side --------------------------------------------------------------

    def submit(self, record: dict) -> None:
        """Queue a record; never blocks the request that produced it. When the queue is
        full (the portal far behind), the record goes straight to the spool."""
        if self.stopping:
            self._append_to_spool([record])
            return
        if self.queue is None:
            self.queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
            self._watch_for_termination()
            if self.has_spool():  # left by an earlier run while the portal was down
                self._ensure_replayer()
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self._append_to_spool([record])

    # --- consumer side --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._ship_forever()
        except asyncio.CancelledError:
            # The server is stopping: uvicorn ends by re-raising SIGTERM, so atexit
            # handlers may never run, but the loop's last act is to cancel this task.
            self.flush_at_exit()
            raise

    async def _ship_forever(self) -> None:
        assert self.queue is not None
        while True:
            batch = [await self.queue.get()]
            # Let a burst gather into one batch.
            deadline = asyncio.get_running_loop().time() + self.linger
            while len(batch) < MAX_BATCH:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except TimeoutError:
                    break
            # Cleared once the batch is delivered or spooled, not when the task is
            # cancelled at shutdown: then flush_at_exit takes it.
            self._in_flight = batch
            try:
                delivered = await self._send_with_retry(batch)
            except Exception:  # never let the shipping task die
                logger.exception("portal-litellm: shipping failed; spooling the batch")
                delivered = False
            if not delivered:
                self._append_to_spool(batch)
            self._in_flight = []
            if delivered:
                await self._replay_spool()

    async def _send(self, batch: Sequence[dict]) -> bool:
        """True when the portal has the batch (stored, duplicates or rejected one by
        one); False when it should be sent again later."""
        try:
            client = self._client or portal_client()
            response = await client.post("generations", json={"generations": list(batch)})
        except httpx.HTTPError as exc:
            logger.warning("portal-litellm: portal unreachable (%s)", type(exc).__name__)
            return False
        if response.status_code == 200:
            counts = response.json()
            if counts.get("rejected"):
                logger.error("portal-litellm: the portal rejected records: %s", counts["rejected"])
            return True
        if response.status_code in (413, 422):
            # Not the portal's outage: sending it again cannot help. Logged, not spooled.
            logger.error(
                "portal-litellm: the portal refused a batch (%s): %s",
                response.status_code,
                response.text[:500],
            )
            return True
        logger.warning("portal-litellm: the portal answered %s", response.status_code)
        return False

    async def _send_with_retry(self, batch: Sequence[dict]) -> bool:
        delay = FIRST_BACKOFF
        for attempt in range(ATTEMPTS):
            if await self._send(batch):
                self._backoff = 0.0
                return True
            if attempt < ATTEMPTS - 1:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        return False

    # --- the spool ------------------------------------------------------------------

    def _append_to_spool(self, records: Sequence[dict]) -> None:
        """Append to the spool. A record can carry prompt and completion text (a key
        that logs), so the spool is the proxy user's alone: the folder 0700 when this
        creates it, the file 0600 whatever the umask (README, "The spool")."""
        with self._spool_lock:
            self.spool.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self.spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            # A file left by an older version, or made under another umask: 0600 too.
            os.fchmod(descriptor, 0o600)
            with open(descriptor, "a", encoding="utf-8") as spool:
                for record in records:
                    spool.write(json.dumps(record, ensure_ascii=False) + "\n")
                spool.flush()
                os.fsync(spool.fileno())
        logger.warning("portal-litellm: %d record(s) spooled to %s", len(records), self.spool)
        self._ensure_replayer()

    def _ensure_replayer(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: replayed at next start
            loop = asyncio.get_running_loop()
            if getattr(self, "_replayer", None) is None or self._replayer.done():
                self._replayer = loop.create_task(self._replay_until_empty())

    async def _replay_until_empty(self) -> None:
        """While the spool holds records, try the portal with growing pauses."""
        delay = FIRST_BACKOFF
        while self.has_spool():
            await asyncio.sleep(delay)
            await self._replay_spool()
            delay = min(delay * 2, MAX_BACKOFF)

    def _spooled_files(self) -> list[Path]:
        """Files waiting to be sent: the spool taken for a replay, including one a
        stopped process left behind."""
        with self._spool_lock:
            if self.spool.exists():
                self.spool.rename(self.spool.with_name(f"sending-{uuid.uuid4().hex}.jsonl"))
        return sorted(self.spool.parent.glob("sending-*.jsonl"))

    def has_spool(self) -> bool:
        return self.spool.exists() or any(self.spool.parent.glob("sending-*.jsonl"))

    async def _replay_spool(self) -> None:
        """Send the spooled records; a file is deleted only once the portal has all of
        it, so a process that stops meanwhile loses nothing (a resend is a duplicate)."""
        if self._replay_lock is None:
            self._replay_lock = asyncio.Lock()
        async with self._replay_lock:
            for path in self._spooled_files():
                lines = path.read_text(encoding="utf-8").splitlines()
                records = [json.loads(line) for line in lines if line.strip()]
                for start in range(0, len(records), MAX_BATCH):
                    if not await self._send(records[start : start + MAX_BATCH]):
                        return
                path.unlink(missing_ok=True)

    def pending(self) -> int:
        return 0 if self.queue is None else self.queue.qsize()

    # --- shutdown -------------------------------------------------------------------

    def _watch_for_termination(self) -> None:
        """Spool what is pending when the server is told to stop.

        uvicorn stops by re-raising SIGTERM once it has shut down, so neither atexit
        handlers nor the loop's last cancellation run: on SIGTERM (or SIGINT) the queue
        and the batch being sent go to the spool at once, later records go straight
        there, and a replay starts while the server drains. The next start replays what
        is left; the portal counts a record sent twice as a duplicate."""
        if not self._watch_signals or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def on_signal(number, frame, previous=previous):
                self.spool_pending()
                if callable(previous):
                    previous(number, frame)
                elif number == signal.SIGINT:
                    raise KeyboardInterrupt
                else:
                    signal.signal(number, signal.SIG_DFL)
                    signal.raise_signal(number)

            signal.signal(signum, on_signal)

    def spool_pending(self) -> None:
        self.stopping = True
        records: list[dict] = list(self._in_flight)
        while self.queue is not None and not self.queue.empty():
            records.append(self.queue.get_nowait())
        if records:
            self._append_to_spool(records)

    def flush_at_exit(self) -> None:
        """At shutdown the event loop is stopping or gone: send what is queued with a
        plain client, and spool whatever the portal does not take, for the next start."""
        records: list[dict] = list(self._in_flight)
        self._in_flight = []
        while self.queue is not None and not self.queue.empty():
            records.append(self.queue.get_nowait())
        if not records:
            return
        config = settings()
        try:
            exit_client = (
                contextlib.nullcontext(self._exit_client)
                if self._exit_client is not None
                else httpx.Client(
                    base_url=config.portal_url + "/internal/v1/",
                    headers={"Authorization": f"Bearer {config.gateway_token}"},
                    timeout=config.timeout,
                )
            )
            with exit_client as client:
                for start in range(0, len(records), MAX_BATCH):
                    response = client.post(
                        "generations", json={"generations": records[start : start + MAX_BATCH]}
                    )
                    if response.status_code != 200:
                        raise httpx.HTTPStatusError(
                            "not stored", request=response.request, response=response
                        )
            return
        except httpx.HTTPError:
            self._append_to_spool(records)
