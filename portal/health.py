"""Liveness of the parts the portal needs: the database, the cache and the broker."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import connection

from portal.celery import app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


def _database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def _cache() -> bool:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return ok


def _broker() -> bool:
    # Socket timeouts bound every step: without them a broker that accepts the TCP
    # connection but never answers (a hung Redis, a failover, a network black hole) holds
    # the probe forever. kombu's Redis transport reads these transport options; other
    # transports ignore them.
    options = {
        **app.conf.broker_transport_options,
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
    }
    with app.connection_for_write(transport_options=options) as conn:
        conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
        client = getattr(conn.default_channel, "client", None)
        if client is not None and hasattr(client, "ping"):
            # Redis: a round trip proves the broker answers, not only that it connected.
            client.ping()
    return True


CHECKS = {"database": _database, "cache": _cache, "broker": _broker}


def check_services() -> dict[str, bool]:
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = bool(check())
        except Exception:  # noqa: BLE001 - any failure means this part is down
            logger.warning("health check %s failed", name, exc_info=True)
            results[name] = False
    return results
