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
import threading
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
    ) -> None:
        self.spool = Path(spool_dir or settings().spool_dir) / SPOOL_NAME
        self.linger = linger
        self._client = client
        self._exit_client = exit_client
        # The batch being sent: at exit it is sent again with the queue (the portal
        # counts it as duplicates if it had arrived).
        self._in_flight: list[dict] = []
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
        if self.queue is None:
            self.queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
            if self.spool.exists():  # left by an earlier run while the portal was down
                self._ensure_replayer()
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self._append_to_spool([record])

    # --- consumer side --------------------------------------------------------------

    async def _run(self) -> None:
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
            self._in_flight = batch
            try:
                if await self._send_with_retry(batch):
                    await self._replay_spool()
                else:
                    self._append_to_spool(batch)
            except Exception:  # never let the shipping task die
                logger.exception("portal-litellm: shipping failed; spooling the batch")
                self._append_to_spool(batch)
            finally:
                self._in_flight = []

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
        with self._spool_lock:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            with self.spool.open("a", encoding="utf-8") as spool:
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
        while self.spool.exists():
            await asyncio.sleep(delay)
            await self._replay_spool()
            delay = min(delay * 2, MAX_BACKOFF)

    def _take_spool(self) -> list[dict]:
        with self._spool_lock:
            if not self.spool.exists():
                return []
            lines = self.spool.read_text(encoding="utf-8").splitlines()
            self.spool.unlink()
        return [json.loads(line) for line in lines if line.strip()]

    async def _replay_spool(self) -> None:
        records = self._take_spool()
        for start in range(0, len(records), MAX_BATCH):
            batch = records[start : start + MAX_BATCH]
            if not await self._send(batch):
                self._append_to_spool(records[start:])
                return

    def pending(self) -> int:
        return 0 if self.queue is None else self.queue.qsize()

    # --- shutdown -------------------------------------------------------------------

    def flush_at_exit(self) -> None:
        """At interpreter exit the event loop is gone: send what is queued with a plain
        client, and spool whatever the portal does not take, for the next start."""
        records: list[dict] = list(self._in_flight)
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
