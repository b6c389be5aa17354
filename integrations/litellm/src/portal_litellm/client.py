"""The portal's gateway API as the plugin calls it: one pooled async HTTP client per
process, configured from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import httpx


@dataclass(frozen=True)
class Settings:
    portal_url: str
    gateway_token: str
    timeout: float
    spool_dir: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            portal_url=os.environ.get("PORTAL_URL", "http://127.0.0.1:8000").rstrip("/"),
            gateway_token=os.environ.get("PORTAL_GATEWAY_TOKEN", ""),
            timeout=float(os.environ.get("PORTAL_TIMEOUT_SECONDS", "5")),
            spool_dir=os.environ.get("PORTAL_SPOOL_DIR", "var/portal-litellm-spool"),
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
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
    return _client
