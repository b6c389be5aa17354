"""The gateway's own server (portal/gunicorn_gateway_conf.py) keeps the plugin's
connection open from one authorisation to the next, which the browser-facing server
(portal/gunicorn_conf.py) does not: each call there opens a connection of its own. Both
are the real gunicorn, as deployed, serving the test database."""

from __future__ import annotations

from functools import partial

import pytest

from tests.helpers.litellm import require_plugin, run_async
from tests.worker_process import database_url

require_plugin()

import aiohttp  # noqa: E402
from portal_litellm import client  # noqa: E402

from accounts.actions import do_create_api_key  # noqa: E402
from accounts.models import User  # noqa: E402
from bench import harness  # noqa: E402

# The servers read the committed test database from other processes.
pytestmark = pytest.mark.django_db(transaction=True)

CALLS = 12


@pytest.mark.parametrize(
    ("config", "connections"),
    [("gunicorn_gateway_conf.py", 1), ("gunicorn_conf.py", CALLS)],
    ids=["gateway server: one connection", "browser-facing server: one per call"],
)
def test_how_many_connections_the_plugin_opens_for_sequential_calls(
    monkeypatch, config, connections
):
    user = User.objects.create_user("keeps@example.com")
    _, raw_key = do_create_api_key(user=user, acting_user=user, name="gateway")
    monkeypatch.setenv("DATABASE_URL", database_url())
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN", harness.GATEWAY_TOKEN)

    # Every connection the plugin's session opens, and every reuse of one.
    opened, reused = [], []
    trace = aiohttp.TraceConfig()

    async def on_open(session, context, params):
        opened.append(params)

    async def on_reuse(session, context, params):
        reused.append(params)

    trace.on_connection_create_end.append(on_open)
    trace.on_connection_reuseconn.append(on_reuse)
    monkeypatch.setattr(
        aiohttp, "ClientSession", partial(aiohttp.ClientSession, trace_configs=[trace])
    )

    async def calls(base: str) -> None:
        monkeypatch.setattr(
            client, "settings", lambda: client.Settings(base, harness.GATEWAY_TOKEN, 5, "", 16)
        )
        session = client.portal_session()
        try:
            for _ in range(CALLS):
                async with session.post("decisions", json={"api_key": raw_key}) as answer:
                    assert answer.status == 200, await answer.text()
                    assert (await answer.json())["log_prompts"] in (True, False)
        finally:
            await session.close()

    with harness.gunicorn(workers=2, config=config) as base:
        run_async(calls(base))
    assert (len(opened), len(reused)) == (connections, CALLS - connections)
