"""The pieces of the LiteLLM proxy tests (tests/integrations/litellm/): the real proxy
with the portal plugin, fake providers behind it and a relay to the test portal in front
of the portal (tests/integrations/litellm/conftest.py says how they fit)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.services import require, services_required

PROXY_START_TIMEOUT = 240


def require_plugin() -> None:
    """At the top of each test module: LiteLLM and the plugin come with `make install`
    (uv sync, group gateway-plugin). Missing, the module is skipped, saying why; in CI it
    fails."""
    # Without it, importing LiteLLM fetches a cost map from the internet.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import portal_litellm.handler  # noqa: F401
    except ImportError as exc:
        reason = f"LiteLLM or portal-litellm is not installed ({exc}): run `make install`"
        if services_required():
            pytest.fail(f"required in CI: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provider_slug(provider: str) -> str:
    return provider.lower().replace(" ", "-")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler_class: type, **attributes) -> _Server:
    server = _Server(("127.0.0.1", 0), handler_class)
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- fake providers --------------------------------------------------------------------


class FakeProviders:
    """OpenAI-compatible chat completions at /<provider-slug>/v1/chat/completions."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        # Providers that answer 500, those that answer 429 (rate limited), and those
        # whose stream breaks off after its first chunk.
        self.failing: set[str] = set()
        self.rate_limited: set[str] = set()
        self.cut_off: set[str] = set()
        self.lock = threading.Lock()
        self.server = _serve(_ProviderHandler, providers=self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def api_base(self, provider: str) -> str:
        return f"{self.url}/{provider_slug(provider)}/v1"

    def called(self) -> list[str]:
        with self.lock:
            return [slug for slug, _ in self.calls]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.failing.clear()
            self.rate_limited.clear()
            self.cut_off.clear()


def reply_text(slug: str) -> str:
    return f"Reply from {slug}: the answer is 42."


class _ProviderHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        providers: FakeProviders = self.server.providers
        slug = self.path.strip("/").split("/", 1)[0]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with providers.lock:
            providers.calls.append((slug, body))
            failing = slug in providers.failing
            rate_limited = slug in providers.rate_limited
            cut_off = slug in providers.cut_off
        if failing:
            self._json(500, {"error": {"message": f"{slug} is down", "type": "server_error"}})
            return
        if rate_limited:
            limited = {"message": f"{slug}: too many requests", "type": "rate_limit_error"}
            self._json(429, {"error": limited})
            return
        text = reply_text(slug)
        created = int(time.time())
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            self._json(
                200,
                {
                    "id": f"chatcmpl-{secrets.token_hex(8)}",
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {
            "id": f"chatcmpl-{secrets.token_hex(8)}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
        }
        words = text.split(" ")
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if cut_off:
                # The provider fails mid-answer, as OpenAI-compatible APIs report it: an
                # error event in the stream, then no end and no usage.
                error = {"message": f"{slug} failed mid-stream", "type": "server_error"}
                self.wfile.write(f"data: {json.dumps({'error': error})}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True
                return
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
        self.wfile.write(
            f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
        )
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --- the relay to the portal -----------------------------------------------------------


class PortalRelay:
    """Forwards the plugin's calls to the live server and records them. mode: "up",
    "down" (every call fails as a refused connection would) or "generations-down"
    (decisions and routes answer, generation batches fail)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.mode = "up"
        self.received: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.server = _serve(_RelayHandler, relay=self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def generation_batches(self) -> list[dict]:
        with self.lock:
            return [
                json.loads(body)
                for path, body in self.received
                if path.endswith("/generations") and body
            ]

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.mode = "up"


class _RelayHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        relay: PortalRelay = self.server.relay
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = relay.mode
        if mode == "down" or (mode == "generations-down" and self.path.endswith("/generations")):
            # No answer at all: the connection drops, as with a portal that is gone.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        with relay.lock:
            relay.received.append((self.path, body))
        request = urllib.request.Request(  # noqa: S310 (the live server's own URL)
            relay.target + self.path,
            data=body,
            headers={
                "Authorization": self.headers.get("Authorization", ""),
                "Content-Type": self.headers.get("Content-Type", ""),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --- the proxy -------------------------------------------------------------------------


class Proxy:
    def __init__(
        self, url: str, master_key: str, process: subprocess.Popen, log: Path, spool: Path
    ):
        self.spool = spool
        self.spy = log.with_name("spy.jsonl")
        self.url = url
        self.master_key = master_key
        self.process = process
        self.log = log
        self._log_from = self._spy_from = 0

    def start_test(self) -> None:
        """From here on, log_text and spy_text give only what this test caused: one proxy
        serves the module, and an earlier test's text must not count for (or against) a
        later one."""
        self._log_from = _size(self.log)
        self._spy_from = _size(self.spy)

    def log_text(self) -> str:
        """What the proxy logged since start_test."""
        return _read_from(self.log, self._log_from)

    def spy_text(self) -> str:
        """What the other callback was handed since start_test."""
        return _read_from(self.spy, self._spy_from)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace")


def litellm_command() -> list[str]:
    script = Path(sys.executable).parent / "litellm"
    found = str(script) if script.exists() else shutil.which("litellm")
    require(found is not None, "the litellm CLI is not installed (uv sync installs it)")
    return [found]


def wait_until_ready(proxy: Proxy) -> None:
    deadline = time.monotonic() + PROXY_START_TIMEOUT
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            pytest.fail(f"the LiteLLM proxy exited at start-up:\n{proxy.log_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{proxy.url}/health/liveliness", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"the LiteLLM proxy did not start:\n{proxy.log_text()[-4000:]}")


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API, once an e2e test has
    started it, leaves an event loop running in the main thread for the rest of the run."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
