"""The plugin's parts without the proxy: shipping (batches, retry with backoff, the
spool, the flush at exit) against a fake portal, and the handler's filter and records."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import stat

import pytest

from tests.helpers.litellm import require_plugin, run_async

require_plugin()

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from portal_litellm import shipping  # noqa: E402
from portal_litellm.handler import PortalHandler  # noqa: E402
from portal_litellm.shipping import MAX_BATCH, Shipper  # noqa: E402


class FakePortal:
    """POST /internal/v1/generations as the portal answers it: ids stored once."""

    def __init__(self) -> None:
        self.up = True
        self.batches: list[list[dict]] = []
        self.stored: dict[str, dict] = {}
        self.duplicates = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("refused", request=request)
        batch = json.loads(request.content)["generations"]
        self.batches.append(batch)
        for record in batch:
            if record["id"] in self.stored:
                self.duplicates += 1
            self.stored[record["id"]] = record
        return httpx.Response(200, json={"stored": len(batch), "rejected": []})


def record(n: int) -> dict:
    return {"id": f"call-{n}", "key_id": 1, "model": "a/b", "provider": "P"}


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


@pytest.fixture
def shipper(portal, tmp_path):
    return Shipper(
        spool_dir=str(tmp_path),
        linger=0.05,
        client=httpx.AsyncClient(
            base_url="http://portal/internal/v1/", transport=httpx.MockTransport(portal)
        ),
        exit_client=httpx.Client(
            base_url="http://portal/internal/v1/", transport=httpx.MockTransport(portal)
        ),
        flush_at_exit=False,
        watch_signals=False,
    )


@pytest.fixture
def fast_backoff(monkeypatch) -> list[float]:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0.001)

    monkeypatch.setattr(shipping.asyncio, "sleep", sleep)
    return slept


async def _until(condition, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(_tick())), 1)


async def _tick() -> None:
    await asyncio.get_running_loop().run_in_executor(None, lambda: None)


def test_batches_hold_at_most_1000_records(shipper, portal):
    async def scenario():
        for n in range(2500):
            shipper.submit(record(n))
        await _until(lambda: len(portal.stored) == 2500)

    run_async(scenario())
    assert max(map(len, portal.batches)) == MAX_BATCH
    assert sum(map(len, portal.batches)) == 2500


def test_retries_with_backoff_then_spools_then_delivers_once(
    shipper, portal, fast_backoff, tmp_path
):
    async def scenario():
        portal.up = False
        shipper.submit(record(1))
        shipper.submit(record(2))
        await _until(lambda: shipper.spool.exists())
        spooled = [json.loads(line) for line in shipper.spool.read_text().splitlines()]
        assert [r["id"] for r in spooled] == ["call-1", "call-2"]
        # Exponential backoff between the attempts of the batch.
        assert fast_backoff[:3] == [0.25, 0.5, 1.0]
        portal.up = True
        await _until(lambda: len(portal.stored) == 2 and not shipper.has_spool())

    run_async(scenario())
    assert sorted(portal.stored) == ["call-1", "call-2"]
    assert portal.duplicates == 0


def test_a_full_queue_spills_to_the_spool(shipper, monkeypatch):
    monkeypatch.setattr(shipping, "QUEUE_SIZE", 2)

    async def scenario():
        for n in range(5):
            shipper.submit(record(n))  # no await: the sender has not run yet
        spooled = shipper.spool.read_text().splitlines()
        assert [json.loads(line)["id"] for line in spooled] == ["call-2", "call-3", "call-4"]
        shipper.task.cancel()
        shipper._replayer.cancel()

    run_async(scenario())


def test_the_queue_is_sent_at_exit_or_spooled(shipper, portal):
    async def queue_without_sending():
        for n in range(3):
            shipper.submit(record(n))
        shipper.task.cancel()

    run_async(queue_without_sending())
    shipper.flush_at_exit()
    assert sorted(portal.stored) == ["call-0", "call-1", "call-2"]
    assert not shipper.spool.exists()

    run_async(queue_without_sending())
    portal.up = False
    shipper.flush_at_exit()
    assert len(shipper.spool.read_text().splitlines()) == 3


def test_on_termination_pending_records_are_spooled_then_replayed(shipper, portal, tmp_path):
    async def stop_while_sending():
        portal.up = False
        for n in range(3):
            shipper.submit(record(n))
        shipper.spool_pending()  # what SIGTERM does
        shipper.submit(record(3))  # a late record goes straight to the spool
        shipper.task.cancel()

    run_async(stop_while_sending())
    assert {json.loads(line)["id"] for line in shipper.spool.read_text().splitlines()} == {
        f"call-{n}" for n in range(4)
    }

    # The next start: a new shipper on the same spool sends it, once.
    portal.up = True
    restarted = Shipper(
        spool_dir=str(tmp_path),
        linger=0.05,
        client=httpx.AsyncClient(
            base_url="http://portal/internal/v1/", transport=httpx.MockTransport(portal)
        ),
        flush_at_exit=False,
        watch_signals=False,
    )

    async def start():
        restarted.submit(record(9))
        await _until(lambda: len(portal.stored) == 5 and not restarted.has_spool())

    run_async(start())
    assert portal.duplicates == 0


PORTAL = {
    "key_id": 7,
    "account": "a",
    "log_prompts": False,
    "model": "m/x",
    "providers": ["A"],
    "prices": {"A": ["2.50", "10.00"]},
}


def deployments(*providers):
    return [{"model_name": "m/x", "model_info": {"portal_provider": p}} for p in providers]


def request_with(portal):
    return {"metadata": {"user_api_key_metadata": {"portal": portal}}}


def test_the_filter_keeps_only_allowed_providers():
    handler = PortalHandler(shipper=object())
    keep = run_async(
        handler.async_filter_deployments(
            "m/x", deployments("A", "B", None), None, request_with(PORTAL)
        )
    )
    assert [d["model_info"]["portal_provider"] for d in keep] == ["A"]
    # Without the portal's answer, or for another model than was authorised: none.
    assert run_async(handler.async_filter_deployments("m/x", deployments("A"), None, {})) == []
    assert (
        run_async(
            handler.async_filter_deployments("m/y", deployments("A"), None, request_with(PORTAL))
        )
        == []
    )


class Recorder:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def submit(self, record: dict) -> None:
        self.records.append(record)


def call_kwargs(portal: dict, text: str = "hello") -> dict:
    return {
        "litellm_call_id": "call-x",
        "messages": [{"role": "user", "content": text}],
        "litellm_params": {
            "model_info": {"portal_provider": "A"},
            "metadata": {
                "user_api_key_metadata": {"portal": portal},
                "headers": {"HTTP-Referer": "https://app.example/", "X-Title": "App"},
            },
        },
        "standard_logging_object": {"response_cost": 0.001},
    }


RESPONSE = {
    "choices": [{"message": {"content": "world"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4},
}


@pytest.mark.parametrize(
    ("log_prompts", "text", "expected"),
    [
        (True, "hello", ("hello", "world")),
        (False, "hello", (None, None)),
        (True, "redacted-by-litellm", (None, "world")),
    ],
)
def test_records_carry_text_only_when_allowed(log_prompts, text, expected):
    recorder = Recorder()
    handler = PortalHandler(shipper=recorder)
    kwargs = call_kwargs(PORTAL | {"log_prompts": log_prompts}, text)
    run_async(handler.async_log_success_event(kwargs, RESPONSE, dt.datetime.now(dt.UTC), None))
    [sent] = recorder.records
    assert (sent["prompt"], sent["completion"]) == expected
    assert sent["id"] == "call-x" and sent["provider"] == "A" and sent["key_id"] == 7
    assert (sent["app_url"], sent["app_title"]) == ("https://app.example/", "App")
    assert (sent["prompt_tokens"], sent["completion_tokens"]) == (3, 4)
    # At the catalog's prices of the endpoint that answered: 3 × 2.50 + 4 × 10.00 per million.
    assert sent["cost_usd"] == "0.00004750"


class RateLimitError(Exception):
    pass


def _request_ends_in_failure(handler, kwargs, exception) -> None:
    """What the proxy does for a request whose call failed: the failure event for the
    attempt, then the post-call failure hook with the request's data."""
    run_async(handler.async_log_failure_event(kwargs | {"exception": exception}, None, None, None))
    request_data = {"litellm_call_id": kwargs["litellm_call_id"]}
    run_async(handler.async_post_call_failure_hook(request_data, exception, None))


def test_refusals_are_not_generations():
    recorder = Recorder()
    handler = PortalHandler(shipper=recorder)
    # An auth failure or the plugin's own refusal: no deployment was called.
    refused = {"litellm_call_id": "c", "litellm_params": {"metadata": {}}}
    _request_ends_in_failure(handler, refused, RateLimitError())
    # The post-call hook alone (custom_auth refused before any call).
    run_async(handler.async_post_call_failure_hook({"litellm_call_id": "d"}, ValueError(), None))
    assert recorder.records == []


def test_a_failed_call_is_a_generation_with_status_error_and_no_text():
    recorder = Recorder()
    handler = PortalHandler(shipper=recorder)
    kwargs = call_kwargs(PORTAL | {"log_prompts": True}, "a prompt")
    _request_ends_in_failure(handler, kwargs, RateLimitError("quota for 'a prompt'"))
    [sent] = recorder.records
    assert sent["status"] == "error"
    # The exception's kind, never its message (it can quote the request).
    assert sent["error_type"] == "RateLimitError"
    assert (sent["prompt"], sent["completion"]) == (None, None)
    assert (sent["prompt_tokens"], sent["completion_tokens"]) == (0, 0)
    assert sent["cost_usd"] == "0.00000000"
    assert (sent["id"], sent["provider"], sent["key_id"]) == ("call-x", "A", 7)
    assert handler._failed == {}


def test_a_failed_attempt_answered_by_a_fallback_is_one_answered_generation():
    recorder = Recorder()
    handler = PortalHandler(shipper=recorder)
    kwargs = call_kwargs(PORTAL)
    failed = kwargs | {"exception": RateLimitError()}
    run_async(handler.async_log_failure_event(failed, None, None, None))
    run_async(handler.async_log_success_event(kwargs, RESPONSE, dt.datetime.now(dt.UTC), None))
    [sent] = recorder.records
    assert "status" not in sent and sent["completion_tokens"] == 4
    assert handler._failed == {}


# --- custom_auth: one call to the portal per request -----------------------------------

DECISION = {
    "key_id": 7,
    "account": "acc",
    "log_prompts": True,
    "provider_policy": {},
}
ENDPOINTS = [{"provider": "A", "input_price": "2.50", "output_price": "10.00"}]


@pytest.fixture
def portal_answers(monkeypatch):
    """The portal's answers by path, and the calls the plugin made. The HTTP call itself
    is the integration tests' (tests/integrations/litellm/test_proxy.py): here the
    portal's answer is given, and what the plugin makes of it is checked."""
    from portal_litellm import auth

    answers: dict[str, object] = {}
    calls: list[tuple[str, dict]] = []

    async def post(path: str, payload: dict) -> tuple[int, str, bytes]:
        calls.append((path, json.loads(json.dumps(payload))))
        answer = answers[path]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return status, "Reason", body if isinstance(body, bytes) else json.dumps(body).encode()

    monkeypatch.setattr(auth, "_post", post)
    return answers, calls


def test_a_request_for_a_model_is_authorised_in_one_call(portal_answers):
    from portal_litellm.auth import authorize

    answers, calls = portal_answers
    answers["authorize"] = (200, {"decision": DECISION, "endpoints": ENDPOINTS})
    portal = run_async(authorize("sk-pt-x", "m/x"))
    assert calls == [("authorize", {"api_key": "sk-pt-x", "model": "m/x"})]
    assert portal == {
        "key_id": 7,
        "account": "acc",
        "log_prompts": True,
        "model": "m/x",
        "providers": ["A"],
        "prices": {"A": ["2.50", "10.00"]},
    }


def test_a_request_without_a_model_asks_only_the_decision(portal_answers):
    from portal_litellm.auth import authorize

    answers, calls = portal_answers
    answers["decisions"] = (200, DECISION)
    portal = run_async(authorize("sk-pt-x", None))
    assert calls == [("decisions", {"api_key": "sk-pt-x"})]
    assert portal["providers"] is None and portal["key_id"] == 7


@pytest.mark.parametrize("status", [401, 403, 404, 409])
def test_the_portals_refusals_pass_through(portal_answers, status):
    from litellm.proxy._types import ProxyException
    from portal_litellm.auth import authorize

    answers, _ = portal_answers
    answers["authorize"] = (status, {"detail": f"refused with {status}"})
    with pytest.raises(ProxyException) as refused:
        run_async(authorize("sk-pt-x", "m/x"))
    assert str(refused.value.code) == str(status)
    assert refused.value.message == f"refused with {status}"


def test_a_refusal_without_a_json_reason_passes_through_with_the_status_reason(portal_answers):
    from litellm.proxy._types import ProxyException
    from portal_litellm.auth import authorize

    answers, _ = portal_answers
    answers["authorize"] = (409, b"<html>conflict</html>")
    with pytest.raises(ProxyException) as refused:
        run_async(authorize("sk-pt-x", "m/x"))
    assert str(refused.value.code) == "409"
    assert refused.value.message == "Reason"


def test_the_portal_is_asked_over_one_session_per_event_loop(monkeypatch):
    """A real HTTP server stands for the portal: the calls of one event loop share a
    session (and its kept connections), another loop gets its own."""
    from aiohttp import web
    from portal_litellm import auth, client

    seen: list[tuple[str, str, dict]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers["Authorization"], await request.json()))
        return web.json_response({"ok": True})

    async def scenario() -> list:
        app = web.Application()
        app.router.add_post("/internal/v1/{name}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        monkeypatch.setattr(
            client,
            "settings",
            lambda: client.Settings(f"http://127.0.0.1:{port}", "tok", 5, "", 16),
        )
        try:
            first = await auth._post("decisions", {"api_key": "k"})
            session = client.portal_session()
            second = await auth._post("authorize", {"api_key": "k", "model": "m/x"})
            assert client.portal_session() is session
            await session.close()
            return [first, second, session]
        finally:
            await runner.cleanup()

    first, second, session = run_async(scenario())
    assert first == second == (200, "OK", b'{"ok": true}')
    assert seen == [
        ("/internal/v1/decisions", "Bearer tok", {"api_key": "k"}),
        ("/internal/v1/authorize", "Bearer tok", {"api_key": "k", "model": "m/x"}),
    ]
    assert run_async(scenario())[2] is not session


@pytest.mark.parametrize(
    "answer",
    [
        aiohttp.ClientConnectionError("refused"),
        TimeoutError(),
        (500, {"detail": "boom"}),
        (422, {"detail": "bad"}),
        (200, {"decision": DECISION}),  # no endpoints: not the contract's answer
        (200, ["not", "an", "object"]),
        (200, b"<html>not JSON</html>"),
    ],
    ids=["unreachable", "timeout", "500", "422", "incomplete", "not an object", "not JSON"],
)
def test_anything_else_fails_closed(portal_answers, answer):
    from portal_litellm.auth import PortalUnavailable, authorize

    answers, _ = portal_answers
    answers["authorize"] = answer
    with pytest.raises(PortalUnavailable):
        run_async(authorize("sk-pt-x", "m/x"))


def test_the_spool_is_the_proxy_users_alone(shipper, portal, tmp_path):
    # A record can carry text: the spool folder is 0700 and its files 0600, whatever the
    # umask, and a spool file left with wider modes is narrowed on the next append.
    shipper.spool = tmp_path / "fresh" / "generations.jsonl"
    old_umask = os.umask(0o022)
    try:
        shipper._append_to_spool([record(1) | {"prompt": "private text"}])
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(shipper.spool.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(shipper.spool.stat().st_mode) == 0o600
    shipper.spool.chmod(0o644)
    shipper._append_to_spool([record(2)])
    assert stat.S_IMODE(shipper.spool.stat().st_mode) == 0o600
    # Outside an event loop no replay starts; nothing was sent.
    assert portal.batches == []
