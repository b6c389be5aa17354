"""The portal's gateway API as the plugin calls it, configured from the environment:
one pooled aiohttp session per event loop for the call every request waits on
(authorisation), one pooled httpx client per process for shipping records."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from functools import cache

import aiohttp
import httpx


@dataclass(frozen=True)
class Settings:
    portal_url: str
    gateway_token: str
    timeout: float
    spool_dir: str
    max_connections: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            portal_url=os.environ.get("PORTAL_URL", "http://127.0.0.1:8000").rstrip("/"),
            gateway_token=os.environ.get("PORTAL_GATEWAY_TOKEN", ""),
            timeout=float(os.environ.get("PORTAL_TIMEOUT_SECONDS", "5")),
            spool_dir=os.environ.get("PORTAL_SPOOL_DIR", "var/portal-litellm-spool"),
            max_connections=int(os.environ.get("PORTAL_MAX_CONNECTIONS", "16")),
        )


@cache
def settings() -> Settings:
    return Settings.from_env()


_client: httpx.AsyncClient | None = None


def portal_client() -> httpx.AsyncClient:
    """The process's client to the portal: kept, so each request reuses a connection
    instead of opening one (custom_auth runs on every request, with no cache)."""
    global _client
    if _client is None or _client.is_closed:
        config = settings()
        _client = httpx.AsyncClient(
            base_url=config.portal_url + "/internal/v1/",
            headers={"Authorization": f"Bearer {config.gateway_token}"},
            timeout=config.timeout,
            # Records go one batch at a time, and spooled ones one at a time beside
            # them: two connections at most (the gateway's server's sizing rule).
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
        )
    return _client


# Below the gateway's server's keepalive (75 s), so that the plugin closes an idle
# connection before the server would.
KEEPALIVE_SECONDS = 15

_session: aiohttp.ClientSession | None = None
_session_loop: asyncio.AbstractEventLoop | None = None


def portal_session() -> aiohttp.ClientSession:
    """The session custom_auth asks the portal through, on every request: aiohttp, not
    httpx, because a call cost about 1 ms less of the request's time through it
    (bench/README.md, "gateway"). Kept per event loop (a session belongs to the loop
    that made it), so each request reuses a connection when the portal keeps it open."""
    global _session, _session_loop
    loop = asyncio.get_running_loop()
    if _session is None or _session.closed or _session_loop is not loop:
        config = settings()
        _session = aiohttp.ClientSession(
            base_url=config.portal_url + "/internal/v1/",
            headers={"Authorization": f"Bearer {config.gateway_token}"},
            timeout=aiohttp.ClientTimeout(total=config.timeout),
            # At most this many connections, each closed after 15 s idle: fewer than the
            # gateway's server accepts and sooner than it would close them
            # (portal/gunicorn_gateway_conf.py, its sizing rule).
            connector=aiohttp.TCPConnector(
                limit=config.max_connections, keepalive_timeout=KEEPALIVE_SECONDS
            ),
        )
        _session_loop = loop
    return _session
