"""The portal behind the real LiteLLM proxy (issue 17): every outcome of a request made
with the `openai` client through the proxy with the portal plugin (conftest.py)."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal

import pytest

from accounts.actions import do_create_api_key, do_revoke_api_key
from accounts.models import ApiKey
from catalog.demo_data import load_demo_catalog
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import Generation
from tests.factories.accounts import UserFactory
from tests.helpers.litellm import provider_slug, reply_text, require_plugin

require_plugin()

import openai  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

APP_URL = "https://codemate.dev/"
APP_TITLE = "CodeMate"


@pytest.fixture
def account(gateway):
    load_demo_catalog()
    user = UserFactory()
    api_key, raw_key = do_create_api_key(user=user, acting_user=user, name="proxy test")
    return user, api_key, raw_key


def client(gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.url,
        api_key=api_key,
        max_retries=0,
        timeout=60,
        default_headers={"HTTP-Referer": APP_URL, "X-Title": APP_TITLE},
    )


def chat(gateway, api_key: str, model: str, prompt: str = "What is six times seven?", **kw):
    return client(gateway, api_key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kw
    )


def generations_of(api_key: ApiKey, count: int, timeout: float = 20) -> list[Generation]:
    """The key's generations once `count` have arrived (fails after `timeout` seconds),
    then a moment more, so that one arriving too many would be seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(Generation.objects.filter(api_key_id=api_key.pk).order_by("id"))
        if len(found) >= count:
            time.sleep(0.5)
            return list(Generation.objects.filter(api_key_id=api_key.pk).order_by("id"))
        time.sleep(0.1)
    pytest.fail(f"{count} generation(s) expected, {len(found)} arrived")


def test_allowed_request_is_served_and_recorded(gateway, account, fake_providers, portal_relay):
    user, api_key, raw_key = account
    answer = chat(gateway, raw_key, "openai/gpt-4o", prompt="Lorem prompt one")
    [called] = fake_providers.called()
    assert called in {"openai", "azure"}
    assert answer.choices[0].message.content == reply_text(called)
    [generation] = generations_of(api_key, 1)
    # One round trip to authorise it (the decision and the routes together), then the record.
    paths = [path.rsplit("/", 1)[-1] for path, _ in portal_relay.received]
    assert paths == ["authorize", "generations"]
    assert generation.user_id == user.pk
    assert generation.model == "openai/gpt-4o"
    assert provider_slug(generation.provider) == called
    assert (generation.app_url, generation.app_title) == (APP_URL, APP_TITLE)
    assert (generation.prompt_tokens, generation.completion_tokens) == (11, 7)
    # gpt-4o at OpenAI and at Azure: $2.50 and $10.00 per million tokens.
    assert generation.cost_usd == Decimal("0.0000975")
    # Logging is on by default: the text is stored as it was sent.
    assert generation.text_state == Generation.TextState.STORED
    assert generation.prompt == "Lorem prompt one"
    assert generation.completion == reply_text(called)
    # The key allows logging, so LiteLLM hands the text to callbacks too.
    assert "Lorem prompt one" in gateway.spy_text()


@pytest.mark.parametrize(
    ("model", "key", "status", "reason"),
    [
        ("openai/gpt-4o", "bogus", 401, "key"),
        ("openai/gpt-4o", "master", 401, "key"),
        ("nobody/no-such-model", "good", 404, "No model named"),
        # Free Inference Co trains on prompts, which the default choices rule out.
        ("meta-llama/llama-3.1-8b-instruct:free", "good", 409, "privacy page"),
    ],
)
def test_refusals_pass_through_with_the_portals_reason(
    gateway, account, fake_providers, portal_relay, model, key, status, reason
):
    _, api_key, raw_key = account
    given = {"bogus": "pk-live-not-a-real-key", "master": gateway.master_key, "good": raw_key}[key]
    with pytest.raises(openai.APIStatusError) as refused:
        chat(gateway, given, model)
    assert refused.value.status_code == status
    assert reason in str(refused.value)
    assert fake_providers.called() == []
    time.sleep(1)
    # The failure hooks fire for refusals too: they are not generations, not even failed ones.
    assert not Generation.objects.exists()
    assert portal_relay.generation_batches() == []


def test_opted_out_key_sends_no_text(gateway, account, portal_relay, fake_providers):
    user, api_key, raw_key = account
    do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": False})
    secret = "my secret diary entry 7f3a"
    # Even when the caller asks LiteLLM not to redact.
    answer = client(gateway, raw_key).chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": secret}],
        extra_headers={"litellm-disable-message-redaction": "true"},
    )
    [called] = fake_providers.called()
    [generation] = generations_of(api_key, 1)
    assert generation.text_state == Generation.TextState.NOT_LOGGED
    assert generation.prompt is None and generation.completion is None
    sent = b"".join(body for _, body in portal_relay.received)
    assert b"generations" in b"".join(path.encode() for path, _ in portal_relay.received)
    assert secret.encode() not in sent
    assert answer.choices[0].message.content.encode() not in sent
    # Nor does LiteLLM's own logging carry it, nor any other callback.
    assert secret not in gateway.log_text()
    assert reply_text(called) not in gateway.log_text()
    assert '"success"' in gateway.spy_text()
    assert secret not in gateway.spy_text()
    assert reply_text(called) not in gateway.spy_text()


def test_revoked_key_is_refused_on_the_next_request(gateway, account):
    user, api_key, raw_key = account
    assert chat(gateway, raw_key, "openai/gpt-4o").choices
    do_revoke_api_key(api_key=api_key, acting_user=user)
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, raw_key, "openai/gpt-4o")


def test_disallowed_provider_is_never_called(gateway, account, fake_providers):
    user, api_key, raw_key = account
    # DeepSeek trains on prompts (ruled out by default); Novita does not. Neither runs in
    # the portal's region, so this account lets its requests leave it.
    do_set_logging_preferences(user=user, acting_user=user, changes={"in_region_only": False})
    for _ in range(6):
        answer = chat(gateway, raw_key, "deepseek/deepseek-chat")
        assert answer.choices[0].message.content == reply_text("novita")
    assert set(fake_providers.called()) == {"novita"}
    generations = generations_of(api_key, 6)
    assert {generation.provider for generation in generations} == {"Novita"}


def test_a_failing_provider_falls_back_among_the_allowed(gateway, account, fake_providers):
    _, api_key, raw_key = account
    fake_providers.failing.add("openai")
    for _ in range(4):
        try:
            answer = chat(gateway, raw_key, "openai/gpt-4o")
        except openai.APIStatusError as error:
            pytest.fail(f"{error}; providers called: {fake_providers.called()}")
        assert answer.choices[0].message.content == reply_text("azure")
    generations = generations_of(api_key, 4)
    # One generation per request: the answer, naming the provider that gave it, not
    # the attempt that failed before it.
    assert len(generations) == 4
    assert {(g.provider, g.status) for g in generations} == {("Azure", Generation.Status.OK)}


def test_fallback_never_reaches_a_disallowed_provider(gateway, account, fake_providers):
    _, api_key, raw_key = account
    # Google Vertex is the model's only allowed endpoint (AI Studio trains on prompts).
    fake_providers.failing.add("google-vertex")
    with pytest.raises(openai.APIStatusError):
        chat(gateway, raw_key, "google/gemini-2.5-flash")
    assert "google-ai-studio" not in fake_providers.called()
    assert "google-vertex" in fake_providers.called()
    # Recorded as what it was: a failed call to the provider that was tried.
    [generation] = generations_of(api_key, 1)
    assert (generation.status, generation.provider) == (Generation.Status.ERROR, "Google Vertex")


def test_a_failed_provider_call_is_one_generation_with_status_error_and_no_text(
    gateway, account, fake_providers, portal_relay
):
    _, api_key, raw_key = account
    # Both endpoints the default choices allow for this model (in the portal's region)
    # answer 429. Logging is on: still no text is sent for a failed call.
    fake_providers.rate_limited |= {"amazon-bedrock", "google-vertex"}
    prompt = "A prompt that met a rate limit 5d1c"
    with pytest.raises(openai.APIStatusError):
        chat(gateway, raw_key, "anthropic/claude-sonnet-4", prompt=prompt)
    called = set(fake_providers.called())
    assert called and called <= {"amazon-bedrock", "google-vertex"}
    [generation] = generations_of(api_key, 1)
    assert generation.status == Generation.Status.ERROR
    assert generation.error_type == "RateLimitError"
    assert provider_slug(generation.provider) in called
    assert (generation.prompt_tokens, generation.completion_tokens) == (0, 0)
    assert generation.cost_usd == 0
    assert not generation.prompt and not generation.completion
    # What the portal received: one record, status error, no text.
    [record] = [r for batch in portal_relay.generation_batches() for r in batch["generations"]]
    assert (record["status"], record["prompt"], record["completion"]) == ("error", None, None)
    assert prompt.encode() not in b"".join(body for _, body in portal_relay.received)


def test_streaming_is_assembled(gateway, account, fake_providers):
    _, api_key, raw_key = account
    stream = chat(
        gateway,
        raw_key,
        "mistralai/mistral-large",
        prompt="Stream me",
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    [called] = fake_providers.called()
    assert text == reply_text(called)
    [generation] = generations_of(api_key, 1)
    assert provider_slug(generation.provider) == called
    assert generation.completion == text
    assert generation.prompt == "Stream me"
    assert (generation.prompt_tokens, generation.completion_tokens) == (11, 7)


def test_a_stream_that_fails_midway_is_one_generation_with_status_error(
    gateway, account, fake_providers, portal_relay
):
    _, api_key, raw_key = account
    # Every endpoint the default choices allow for this model breaks off after one chunk.
    fake_providers.cut_off |= {"mistral", "azure"}
    with pytest.raises(openai.APIError) as raised:
        stream = chat(
            gateway,
            raw_key,
            "mistralai/mistral-large",
            prompt="A stream that breaks 7f2a",
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
    # The provider's failure, not a proxy that could not be reached.
    assert not isinstance(raised.value, openai.APIConnectionError)
    [called] = fake_providers.called()
    [generation] = generations_of(api_key, 1)
    assert generation.status == Generation.Status.ERROR
    assert provider_slug(generation.provider) == called
    assert not generation.prompt and not generation.completion
    assert b"7f2a" not in b"".join(body for _, body in portal_relay.received)


def test_portal_down_fails_closed_and_the_spool_delivers_once(
    gateway, account, portal_relay, fake_providers
):
    _, api_key, raw_key = account
    # Served while only ingestion is down: the record goes to the spool.
    portal_relay.mode = "generations-down"
    assert chat(gateway, raw_key, "openai/gpt-4o").choices
    time.sleep(3)  # beyond the shipper's retries
    assert not Generation.objects.filter(api_key_id=api_key.pk).exists()
    # The whole portal down: refused with 503, and no provider is called.
    portal_relay.mode = "down"
    served = len(fake_providers.called())
    with pytest.raises(openai.APIStatusError) as refused:
        chat(gateway, raw_key, "openai/gpt-4o")
    assert refused.value.status_code == 503
    assert len(fake_providers.called()) == served
    # Back: the spooled record arrives, once.
    portal_relay.mode = "up"
    [generation] = generations_of(api_key, 1, timeout=40)
    assert generation.provider in {"OpenAI", "Azure"}


# Last: it stops the module's proxy.
def test_shutdown_keeps_what_the_portal_has_not_taken(gateway, account, portal_relay):
    _, api_key, raw_key = account
    portal_relay.mode = "generations-down"
    assert chat(gateway, raw_key, "openai/gpt-4o").choices
    # Once LiteLLM has handed the record to the plugin, which is retrying the portal.
    time.sleep(0.6)
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(timeout=60) is not None
    # Spooled for the next start, which replays it (test_plugin_units.py).
    spooled = [
        json.loads(line)
        for path in gateway.spool.parent.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [record["key_id"] for record in spooled] == [api_key.pk]
