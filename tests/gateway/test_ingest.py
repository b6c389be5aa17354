"""POST /internal/v1/generations: metadata always, text only when the key's effective
setting allows it at write time, one bad record never fails the batch."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey
from gateway.schemas import MAX_BATCH, MAX_BATCH_BYTES, MAX_TEXT_CHARS
from logging_prefs.actions import do_set_api_key_logging, do_set_logging_preferences
from logging_prefs.models import Generation
from tests.helpers.gateway import GENERATIONS_URL, OPENAPI_URL, GatewayClient, create_key, record

pytestmark = pytest.mark.django_db


def _counts(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def test_a_generation_is_stored_with_its_text_when_the_account_logs(gateway, key):
    sent = record(key.api_key.pk, cost_usd="0.01234567", prompt_tokens=7, completion_tokens=9)
    assert _counts(gateway.ingest([sent])) == {
        "stored": 1,
        "with_text": 1,
        "duplicates": 0,
        "rejected": [],
    }
    row = Generation.objects.get(gateway_id=sent["id"])
    assert row.user_id == key.user.pk
    assert row.api_key_id == key.api_key.pk
    assert (row.prompt, row.completion) == (sent["prompt"], sent["completion"])
    assert row.text_state == Generation.TextState.STORED
    assert (row.model, row.provider) == ("anthropic/claude-sonnet-4", "Anthropic")
    assert (row.app_url, row.app_title) == ("https://notes.example.com/", "Example Notes")
    assert (row.prompt_tokens, row.completion_tokens) == (7, 9)
    assert row.cost_usd == Decimal("0.01234567")
    assert row.created_at == dt.datetime.fromisoformat(sent["created_at"])


def test_opted_out_prompt_text_is_never_stored(gateway, key):
    user = key.user
    do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": False})
    sent = [record(key.api_key.pk) for _ in range(3)]
    assert _counts(gateway.ingest(sent)) == {
        "stored": 3,
        "with_text": 0,
        "duplicates": 0,
        "rejected": [],
    }
    rows = Generation.objects.filter(gateway_id__in=[r["id"] for r in sent])
    assert rows.count() == 3
    for row in rows:
        assert row.prompt is None and row.completion is None
        assert row.text_state == Generation.TextState.NOT_LOGGED
        # Billing metadata is kept.
        assert row.prompt_tokens == 412 and row.cost_usd == Decimal("0.0018")


def test_never_log_key_text_is_never_stored_even_when_account_logs(gateway, account):
    never = create_key(account, logging=ApiKey.Logging.NEVER)
    logging = create_key(account)
    sent_never = record(never.api_key.pk)
    sent_logging = record(logging.api_key.pk)
    assert _counts(gateway.ingest([sent_never, sent_logging]))["with_text"] == 1
    assert Generation.objects.get(gateway_id=sent_never["id"]).prompt is None
    assert Generation.objects.get(gateway_id=sent_logging["id"]).prompt == sent_logging["prompt"]


def test_the_gateways_decision_is_not_trusted_the_setting_is_rechecked_at_write(gateway, key):
    # The gateway decided "log" for this key; the user switched the key to never
    # before the batch arrived: the text is not stored.
    assert gateway.decide(key.raw).json()["log_prompts"] is True
    do_set_api_key_logging(api_key=key.api_key, acting_user=key.user, logging="never")
    sent = record(key.api_key.pk)
    assert _counts(gateway.ingest([sent]))["with_text"] == 0
    assert Generation.objects.get(gateway_id=sent["id"]).prompt is None


def test_a_revoked_keys_late_generations_keep_billing_data_but_no_text(gateway, key):
    do_revoke_api_key(api_key=key.api_key, acting_user=key.user)
    sent = record(key.api_key.pk)
    assert _counts(gateway.ingest([sent]))["stored"] == 1
    row = Generation.objects.get(gateway_id=sent["id"])
    assert row.prompt is None and row.text_state == Generation.TextState.NOT_LOGGED


def test_an_inactive_accounts_generations_keep_billing_data_but_no_text(gateway, key):
    key.user.is_active = False
    key.user.save(update_fields=["is_active"])
    sent = record(key.api_key.pk)
    assert _counts(gateway.ingest([sent])) == {
        "stored": 1,
        "with_text": 0,
        "duplicates": 0,
        "rejected": [],
    }


def test_reposted_generation_id_is_a_duplicate_not_a_second_row(gateway, key):
    first = record(key.api_key.pk)
    assert _counts(gateway.ingest([first]))["stored"] == 1
    # Reposted with changed fields: still the same generation, never overwritten.
    again = {**first, "prompt": "changed", "cost_usd": "9"}
    fresh = record(key.api_key.pk)
    assert _counts(gateway.ingest([again, fresh, fresh])) == {
        "stored": 1,
        "with_text": 1,
        "duplicates": 2,
        "rejected": [],
    }
    assert Generation.objects.filter(gateway_id=first["id"]).count() == 1
    assert Generation.objects.get(gateway_id=first["id"]).prompt == first["prompt"]
    assert Generation.objects.count() == 2


def test_bad_records_are_rejected_one_by_one_and_the_rest_stored(gateway, key):
    now = timezone.now()
    key_id = key.api_key.pk
    good = [record(key_id) for _ in range(3)]
    bad = {
        "unknown key": (record(key_id + 10_000), "key_id: unknown API key"),
        "negative tokens": (record(key_id, prompt_tokens=-1), "prompt_tokens:"),
        "malformed URL": (record(key_id, app_url="not a url"), "app_url: must be an http"),
        "ftp URL": (record(key_id, app_url="ftp://example.com/"), "app_url: must be an http"),
        "oversized text": (
            record(key_id, prompt="x" * (MAX_TEXT_CHARS + 1)),
            "prompt: Value should have at most 200000 items",
        ),
        "naive timestamp": (
            record(key_id, created_at=now.replace(tzinfo=None).isoformat()),
            "created_at: must include a time zone",
        ),
        "future timestamp": (
            record(key_id, created_at=(now + dt.timedelta(hours=1)).isoformat()),
            "created_at: is in the future",
        ),
        "NUL in text": (
            record(key_id, completion="before\x00after"),
            "completion: must not contain NUL characters",
        ),
        "NUL in id": (record(key_id, id="gen-\x00"), "id: must not contain NUL"),
        "string tokens": (record(key_id, completion_tokens="12"), "completion_tokens:"),
        "string key id": ({**record(key_id), "key_id": str(key_id)}, "key_id:"),
        "boolean cost": (record(key_id, cost_usd=True), "cost_usd: must be a number"),
        "negative cost": (record(key_id, cost_usd="-0.5"), "cost_usd:"),
        "missing model": (
            {k: v for k, v in record(key_id).items() if k != "model"},
            "model: Field required",
        ),
        "unexpected field": (record(key_id, user_id=1), "user_id: Extra inputs"),
        "a number": (42, "each generation must be a JSON object"),
        "a string": ("gen-1", "each generation must be a JSON object"),
        "null": (None, "each generation must be a JSON object"),
        "a list": ([record(key_id)], "each generation must be a JSON object"),
    }
    # Interleave: good, bad..., good, bad..., good.
    batch = [good[0], *[b for b, _ in list(bad.values())[:9]], good[1]]
    batch += [b for b, _ in list(bad.values())[9:]] + [good[2]]
    expected = {}
    for index, item in enumerate(batch):
        for name, (bad_item, reason) in bad.items():
            if item is bad_item:
                expected[index] = (name, reason)

    result = _counts(gateway.ingest(batch))
    assert result["stored"] == 3
    assert result["with_text"] == 3
    assert result["duplicates"] == 0
    assert [r["index"] for r in result["rejected"]] == sorted(expected)
    for rejection in result["rejected"]:
        name, reason = expected[rejection["index"]]
        assert reason in rejection["error"], (name, rejection)
    assert set(Generation.objects.values_list("gateway_id", flat=True)) == {r["id"] for r in good}


def test_an_empty_batch_stores_nothing(gateway, key):
    assert _counts(gateway.ingest([])) == {
        "stored": 0,
        "with_text": 0,
        "duplicates": 0,
        "rejected": [],
    }


def test_a_full_batch_of_1000_is_accepted(gateway, key):
    batch = [record(key.api_key.pk, prompt=None, completion=None) for _ in range(MAX_BATCH)]
    result = _counts(gateway.ingest(batch))
    assert result["stored"] == MAX_BATCH
    assert Generation.objects.count() == MAX_BATCH


def test_more_than_1000_generations_are_refused_with_a_readable_422(gateway, key):
    batch = [record(key.api_key.pk, prompt=None, completion=None) for _ in range(MAX_BATCH + 1)]
    response = gateway.ingest(batch)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "generations: at most 1000 generations per request, got 1001: split the batch"
    )
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ('{"generations": [', 400, "The request body is not valid JSON"),
        ("{'generations': []}", 400, "The request body is not valid JSON"),
        (b"\xff\xfe\x00garbage", 400, "The request body is not valid JSON"),
        ("[" * 100_000, 400, "The request body is not valid JSON"),
        ("", 422, "request body: Field required"),
        ("[]", 422, "The request body must be a JSON object, not an array."),
        ('"generations"', 422, "The request body must be a JSON object, not a string."),
        ("null", 422, "The request body must be a JSON object, not null."),
        ("3", 422, "The request body must be a JSON object, not a number."),
        ("{}", 422, "generations: Field required"),
        ('{"generations": {}}', 422, "generations: Input should be a valid list"),
        ('{"generations": null}', 422, "generations: Input should be a valid list"),
    ],
)
def test_a_malformed_body_is_a_readable_4xx_json_answer(gateway, key, body, status, detail):
    response = gateway.post(GENERATIONS_URL, body)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith(detail)
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_declared_json_is_refused_with_415(gateway, key, content_type):
    body = json.dumps({"generations": [record(key.api_key.pk)]})
    response = gateway.post(GENERATIONS_URL, body, content_type=content_type)
    assert response.status_code == 415
    assert "Content-Type must be application/json" in response.json()["detail"]
    assert not Generation.objects.exists()


def test_a_json_content_type_with_a_charset_is_accepted(gateway, key):
    body = json.dumps({"generations": [record(key.api_key.pk)]})
    response = gateway.post(GENERATIONS_URL, body, content_type="application/json; charset=utf-8")
    assert _counts(response)["stored"] == 1


def test_a_body_over_the_batch_limit_is_a_json_413_naming_the_limit(gateway, key):
    records = [record(key.api_key.pk, prompt="x" * MAX_TEXT_CHARS)] * 170
    body = json.dumps({"generations": records})
    assert len(body) > MAX_BATCH_BYTES
    response = gateway.post(GENERATIONS_URL, body)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"The request body is larger than {MAX_BATCH_BYTES} bytes: send smaller batches."
    )
    assert not Generation.objects.exists()


def test_a_batch_of_10_mb_is_stored_though_other_urls_refuse_2_5_mb(gateway, key):
    # Django's default, which every other URL keeps (tests/portal/test_request_body_limits.py).
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440
    records = [
        record(key.api_key.pk, prompt=f"{index} " + "y" * 10_500) for index in range(MAX_BATCH)
    ]
    body = json.dumps({"generations": records})
    assert len(body) > 10 * 1024 * 1024
    counts = _counts(gateway.post(GENERATIONS_URL, body))
    assert counts["stored"] == MAX_BATCH and counts["with_text"] == MAX_BATCH
    assert Generation.objects.filter(prompt__startswith="999 yyy").exists()


def test_a_large_batch_without_the_token_is_refused_unread(gateway, key):
    records = [record(key.api_key.pk, prompt="z" * 10_000)] * 500
    response = GatewayClient(token="wrong").post(GENERATIONS_URL, {"generations": records})
    assert response.status_code == 401
    assert not Generation.objects.exists()


def test_ingesting_moves_the_keys_last_used_forward(gateway, key):
    created_at = timezone.now() - dt.timedelta(minutes=2)
    gateway.ingest([record(key.api_key.pk, created_at=created_at.isoformat())])
    key.api_key.refresh_from_db()
    assert key.api_key.last_used_at == created_at


def _documented_cost_bounds() -> dict:
    """cost_usd's bounds as the served OpenAPI document states them for a number."""
    document = GatewayClient().client.get(OPENAPI_URL).json()
    item = document["components"]["schemas"]["GenerationsIn"]["properties"]["generations"]
    (number,) = [s for s in item["items"]["properties"]["cost_usd"]["anyOf"] if "minimum" in s]
    return number


def test_the_cost_bounds_the_openapi_document_states_are_the_ones_enforced(gateway, key):
    bounds = _documented_cost_bounds()
    assert bounds["minimum"] == 0
    assert "maximum" not in bounds
    ceiling = Decimal(str(bounds["exclusiveMaximum"]))
    assert ceiling == Decimal(1_000_000)
    at_the_ceiling = record(key.api_key.pk, cost_usd=str(ceiling))
    just_below = record(key.api_key.pk, cost_usd="999999.99999999")
    free = record(key.api_key.pk, cost_usd=0)
    result = _counts(gateway.ingest([at_the_ceiling, just_below, free]))
    assert result["stored"] == 2
    assert [rejection["index"] for rejection in result["rejected"]] == [0]
    assert result["rejected"][0]["error"].startswith("cost_usd: ")
    assert sorted(Generation.objects.values_list("cost_usd", flat=True)) == [
        Decimal(0),
        Decimal("999999.99999999"),
    ]


@pytest.mark.parametrize("cost", [1_000_000, "1000000", "1E+6", 1e6, "1000000.00000000"])
def test_a_cost_of_a_million_is_refused_in_every_spelling(gateway, key, cost):
    result = _counts(gateway.ingest([record(key.api_key.pk, cost_usd=cost)]))
    assert result["stored"] == 0 and len(result["rejected"]) == 1
    assert not Generation.objects.exists()


# --- Failed provider calls: status "error" ---------------------------------------------


def test_a_record_without_a_status_is_an_answered_call(gateway, key):
    sent = record(key.api_key.pk)
    assert "status" not in sent
    assert _counts(gateway.ingest([sent]))["stored"] == 1
    row = Generation.objects.get(gateway_id=sent["id"])
    assert (row.status, row.error_type) == (Generation.Status.OK, "")


def test_a_failed_call_is_stored_with_its_status_and_error_type(gateway, key):
    sent = record(
        key.api_key.pk,
        status="error",
        error_type="RateLimitError",
        prompt=None,
        completion=None,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd="0",
    )
    assert _counts(gateway.ingest([sent]))["stored"] == 1
    row = Generation.objects.get(gateway_id=sent["id"])
    assert (row.status, row.error_type) == (Generation.Status.ERROR, "RateLimitError")
    assert not row.prompt and not row.completion
    assert (row.provider, row.cost_usd) == ("Anthropic", Decimal("0"))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"status": "failed"}, "status: Input should be 'ok' or 'error'"),
        ({"status": None}, "status: Input should be 'ok' or 'error'"),
        ({"error_type": "RateLimitError"}, 'error_type: only for a record with status "error"'),
        (
            {"status": "ok", "error_type": "RateLimitError"},
            'error_type: only for a record with status "error"',
        ),
        ({"status": "error", "error_type": "E" * 101}, "error_type: Value should have at most 100"),
    ],
)
def test_a_bad_status_is_rejected_with_a_reason(gateway, key, fields, error):
    good = record(key.api_key.pk)
    answer = _counts(gateway.ingest([record(key.api_key.pk, **fields), good]))
    assert answer["stored"] == 1
    [rejection] = answer["rejected"]
    assert rejection["index"] == 0
    assert error in rejection["error"]


def test_the_openapi_document_states_the_status(gateway):
    document = gateway.client.get(OPENAPI_URL).json()
    item = document["components"]["schemas"]["GenerationsIn"]["properties"]["generations"]
    status = item["items"]["properties"]["status"]
    assert status["enum"] == ["ok", "error"]
    assert status["default"] == "ok"
    assert "status" not in item["items"]["required"]
    assert "error_type" in item["items"]["properties"]
