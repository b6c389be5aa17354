"""/account/activity/'s usage at a glance (totals, charts, breakdowns) from the usage
summary kept at ingestion, and its CSV download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logging_prefs.actions import do_ingest_generations
from logging_prefs.models import Generation, UsageDailyTotal
from privacy import export, registry
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationRecordFactory, ingest

pytestmark = pytest.mark.django_db

ACTIVITY_URL = "/account/activity/"
CSV_URL = "/account/activity/export.csv"
SUMMARY_FIELDS = ("user_id", "day", "api_key_id", "model", "provider", "app_url", "app_title")


def record(api_key, created_at: dt.datetime, **overrides) -> dict:
    """A gateway record of `api_key` made at `created_at`."""
    return GenerationRecordFactory(
        key_id=api_key.pk, created_at=created_at.isoformat(), **overrides
    )


def summary_rows() -> dict[tuple, tuple]:
    return {
        tuple(row[:7]): tuple(row[7:])
        for row in UsageDailyTotal.objects.values_list(
            *SUMMARY_FIELDS, "generations", "prompt_tokens", "completion_tokens", "cost_usd"
        )
    }


def sums_of_the_rows() -> dict[tuple, tuple]:
    """What the summary must hold: the generations added up per group, from scratch."""
    rows = (
        Generation.objects.filter(user__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values(*SUMMARY_FIELDS)
        .annotate(
            n=Count("pk"),
            p=Sum("prompt_tokens"),
            c=Sum("completion_tokens"),
            cost=Sum("cost_usd"),
        )
        .order_by()
    )
    return {
        tuple(row[name] for name in SUMMARY_FIELDS): (row["n"], row["p"], row["c"], row["cost"])
        for row in rows
    }


def text_of(response) -> str:
    """The page's words, without markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# --- The summary ---------------------------------------------------------------------


def test_the_summary_equals_the_sum_of_the_rows_and_a_repost_adds_nothing(user):
    other = UserFactory()
    keys = [
        ApiKeyFactory(user=user, name="one"),
        ApiKeyFactory(user=user, name="two"),
        ApiKeyFactory(user=other),
    ]
    now = timezone.now()
    records = []
    for index in range(60):
        records.append(
            record(
                keys[index % 3],
                now - dt.timedelta(hours=7 * index),  # over three weeks of UTC days
                model=("openai/gpt-4o", "anthropic/claude-sonnet-4")[index % 2],
                provider=("OpenAI", "Azure", "Anthropic")[index % 3],
                app_url=(None, "https://a.example/", "https://b.example/" + "x" * 2000)[index % 3],
                app_title=(None, "A", "B")[index % 3],
                prompt_tokens=index,
                completion_tokens=2 * index,
                cost_usd=f"0.{index:08d}",
            )
        )
    first = do_ingest_generations(records=records[:40])
    # Re-posted: twice in one batch, and again in a later batch with new rows.
    second = do_ingest_generations(records=records[30:] + records[50:55])
    assert (first.stored, second.stored) == (40, 20)
    assert second.duplicates == 15
    again = do_ingest_generations(records=records)
    assert again.stored == 0

    expected = sums_of_the_rows()
    assert summary_rows() == expected
    assert sum(value[0] for value in expected.values()) == 60
    assert len(expected) > 20  # days, keys, models, providers and apps all vary
    mine = UsageDailyTotal.objects.filter(user=user).aggregate(n=Sum("generations"))
    assert mine["n"] == 40


def test_the_summary_counts_each_request_in_its_utc_day(user):
    key = ApiKeyFactory(user=user)
    plus_2 = dt.timezone(dt.timedelta(hours=2))
    records = [
        # 00:30 on March 2nd at +02:00 is 22:30 on March 1st in UTC.
        record(key, dt.datetime(2026, 3, 2, 0, 30, tzinfo=plus_2)),
        record(key, dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC)),
        record(key, dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)),
    ]
    assert do_ingest_generations(records=records).stored == 3
    days = dict(UsageDailyTotal.objects.values_list("day", "generations"))
    assert days == {dt.date(2026, 3, 1): 2, dt.date(2026, 3, 2): 1}


def test_the_summary_is_added_by_one_statement_per_batch(user):
    key = ApiKeyFactory(user=user)
    records = [
        record(key, timezone.now() - dt.timedelta(hours=index), model=f"m/{index % 4}")
        for index in range(200)
    ]
    with CaptureQueriesContext(connection) as captured:
        do_ingest_generations(records=records)
    upserts = [q["sql"] for q in captured.captured_queries if "usagedailytotal" in q["sql"]]
    assert len(upserts) == 1
    assert "ON CONFLICT" in upserts[0]
    assert summary_rows() == sums_of_the_rows()


def test_a_batch_that_stores_nothing_leaves_the_summary_alone(user):
    key = ApiKeyFactory(user=user)
    ingest(key, 3)
    before = summary_rows()
    result = do_ingest_generations(records=[{"id": "bad"}, record(key, timezone.now())])
    assert result.stored == 1
    assert sum(v[0] for v in summary_rows().values()) == sum(v[0] for v in before.values()) + 1


def test_the_summary_is_personal_data_exported_and_erased_with_the_account(user):
    (entry,) = [e for e in registry.entries() if e.model is UsageDailyTotal]
    assert entry.how == "delete" and entry.user_field == "user"
    ingest(ApiKeyFactory(user=user), 2, model="x/exported-model")
    ingest(ApiKeyFactory(user=UserFactory()), 1, model="y/someone-else")
    body = b"".join(
        export.data_export(user_id=user.pk, account=str(user.public_id), exported_at=timezone.now())
    )
    rows = json.loads(body)["records"]["logging_prefs.usagedailytotal"]
    assert [(row["model"], row["generations"]) for row in rows] == [("x/exported-model", 2)]


# --- The page ------------------------------------------------------------------------


def test_the_page_opens_with_the_periods_totals_charts_and_breakdowns(user_client, user):
    laptop, server = (
        ApiKeyFactory(user=user, name="Laptop"),
        ApiKeyFactory(user=user, name="Server"),
    )
    now = timezone.now()
    ingest(
        laptop,
        3,
        model="openai/gpt-4o",
        provider="OpenAI",
        cost_usd="0.50000000",
        prompt_tokens=100,
        completion_tokens=20,
        newest=now - dt.timedelta(days=2),
    )
    ingest(
        server,
        2,
        model="mistral/large",
        provider="Mistral",
        cost_usd="0.25000000",
        prompt_tokens=10,
        completion_tokens=5,
        app_url="https://notes.example/",
        app_title="Notes",
        newest=now - dt.timedelta(hours=1),
    )
    ingest(laptop, 4, cost_usd="9.00000000", newest=now - dt.timedelta(days=60))  # outside

    response = user_client.get(ACTIVITY_URL)

    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary.total.requests == 5
    assert summary.total.tokens == 3 * 120 + 2 * 15
    assert summary.total.cost_usd == Decimal("2.00")
    text = text_of(response)
    assert "Usage: Last 30 days" in text, text
    assert "Requests 5" in text and "Tokens 390" in text and "Cost (USD) 2.00" in text
    assert [row.label for row in summary.by_model] == ["openai/gpt-4o", "mistral/large"]
    assert [row.label for row in summary.by_provider] == ["OpenAI", "Mistral"]
    assert [row.label for row in summary.by_app] == ["Example Chat", "Notes"]
    assert [row.label for row in summary.by_key] == [
        f"Laptop ({laptop.prefix}…)",
        f"Server ({server.prefix}…)",
    ]
    for heading in ("By model", "By provider", "By app", "By API key"):
        assert heading in text
    # A bar per day of the period, in the chart and in its table.
    assert len(response.context["period_rows"]) == 30
    assert "The charts’ figures as a table" in text


def test_the_charts_are_inline_svg_with_nothing_the_csp_would_block(user_client, user):
    ingest(ApiKeyFactory(user=user), 3)
    html = user_client.get(ACTIVITY_URL).content.decode()
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) == 2
    for svg in svgs:
        assert "<script" not in svg
        assert "<style" not in svg
        assert " style=" not in svg
        assert re.search(r'role="img" aria-labelledby="(chart-[a-z]+-title)"', svg)
    assert '<title id="chart-cost-title">Cost per day (USD)</title>' in html
    assert '<title id="chart-tokens-title">Tokens per day</title>' in html
    assert " style=" not in html and "<script" not in html


def test_a_long_period_is_charted_by_month(user_client, user):
    ingest(ApiKeyFactory(user=user), 2, step=dt.timedelta(days=200))
    response = user_client.get(ACTIVITY_URL, {"period": "365"})
    assert response.context["unit"] == "month"
    assert 12 <= len(response.context["period_rows"]) <= 13
    assert response.context["summary"].total.requests == 2
    assert "Cost per month (USD)" in response.content.decode()


def test_the_widest_dates_chart_the_months_with_requests_not_eight_thousand_years(
    user_client, user
):
    ingest(ApiKeyFactory(user=user), 2, step=dt.timedelta(days=100))
    response = user_client.get(ACTIVITY_URL, {"date_from": "2000-01-01", "date_to": "9998-12-31"})
    assert response.status_code == 200
    assert response.context["unit"] == "month"
    assert 4 <= len(response.context["period_rows"]) <= 5
    assert response.context["summary"].total.requests == 2
    assert "Usage: 1 Jan 2000 to 31 Dec 9998" in text_of(response)


def test_narrowing_the_period_narrows_the_totals_and_the_list(user_client, user):
    key = ApiKeyFactory(user=user)
    now = timezone.now()
    recent = ingest(key, 2, newest=now - dt.timedelta(days=1))
    ingest(key, 3, newest=now - dt.timedelta(days=20))
    ingest(key, 4, newest=now - dt.timedelta(days=200))

    def seen(**params):
        response = user_client.get(ACTIVITY_URL, params)
        assert response.status_code == 200
        return response.context["summary"].total.requests, len(response.context["requests"])

    assert seen() == (5, 5)
    assert seen(period="7") == (2, 2)
    assert seen(period="all") == (9, 9)
    day = recent[0].created_at.astimezone(dt.UTC).date().isoformat()
    assert seen(date_from=day, date_to=day)[0] >= 1
    assert seen(period="7", model="no/such-model") == (0, 0)


def test_the_totals_follow_the_model_app_and_key_filters(user_client, user):
    laptop, server = (
        ApiKeyFactory(user=user, name="Laptop"),
        ApiKeyFactory(user=user, name="Server"),
    )
    ingest(laptop, 2, model="a/one")
    ingest(server, 3, model="b/two", app_url="https://notes.example/", app_title="Notes")

    def total(**params):
        return user_client.get(ACTIVITY_URL, params).context["summary"].total.requests

    assert total(model="a/one") == 2
    assert total(key=server.pk) == 3
    assert total(app="Notes") == 3
    assert total(app="https://notes.example/") == 3
    assert total(app="https://chat.example.com/") == 2


def test_a_period_without_requests_says_so_without_a_chart(user_client, user):
    response = user_client.get(ACTIVITY_URL)
    assert response.status_code == 200
    assert response.context["charts"] is None
    assert "<svg" not in response.content.decode()
    assert "No requests in this period." in text_of(response)


def test_another_persons_usage_is_never_counted(user_client, user):
    ingest(ApiKeyFactory(user=UserFactory()), 7, model="their/model")
    ingest(ApiKeyFactory(user=user), 1)
    response = user_client.get(ACTIVITY_URL, {"period": "all"})
    assert response.context["summary"].total.requests == 1
    assert "their/model" not in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"period": "bogus"},
        {"period": "-1"},
        {"period": ["7", "30"]},
        {"period": "\x00"},
        {"period": "9" * 500},
        {"date_from": "2026-13-01"},
        {"date_from": "9999-12-31", "period": "7"},
        {"date_to": "1999-01-01"},
        {"key": "-1"},
        {"app": "x" * 5000},
    ],
)
@pytest.mark.parametrize("url", [ACTIVITY_URL, CSV_URL])
def test_bad_period_or_filters_never_fail(user_client, user, params, url):
    ingest(ApiKeyFactory(user=user), 2)
    response = user_client.get(url, params)
    assert response.status_code in (200, 302)
    if url == ACTIVITY_URL:
        assert response.context["form"].errors or response.context["summary"] is not None
    else:
        assert response.status_code == 302 or response["Content-Type"].startswith("text/csv")


def test_a_bad_period_is_named_on_the_page(user_client, user):
    ingest(ApiKeyFactory(user=user), 1)
    response = user_client.get(ACTIVITY_URL, {"period": "bogus"})
    assert "Choose one of the periods in the list." in response.content.decode()
    assert response.context["summary"] is None


@pytest.mark.parametrize("rows", [5, 300])
@pytest.mark.parametrize("period", ["7", "all"])
def test_the_pages_queries_do_not_grow_with_the_requests(
    user_client, user, rows, period, django_assert_max_num_queries
):
    keys = [ApiKeyFactory(user=user, name="one"), ApiKeyFactory(user=user, name="two")]
    for index, key in enumerate(keys):
        ingest(
            key,
            rows // 2 + (rows % 2 if index == 0 else 0),
            step=dt.timedelta(hours=1),
            model=f"m/{index}",
        )
    user_client.get(ACTIVITY_URL)  # warm the session cache

    with django_assert_max_num_queries(12) as captured:
        response = user_client.get(ACTIVITY_URL, {"period": period})

    assert response.status_code == 200
    assert response.context["summary"].total.requests > 0
    generations = [q["sql"] for q in captured.captured_queries if "_generation" in q["sql"]]
    totals = [q["sql"] for q in captured.captured_queries if "usagedailytotal" in q["sql"]]
    assert len(generations) == 2, generations  # the page of rows and the model suggestions
    assert len(totals) == 1, totals  # every total, day and breakdown in one query
    assert "GROUPING SETS" in totals[0]
    for sql in generations:
        assert "COUNT(" not in sql.upper() and "SUM(" not in sql.upper(), sql


# --- The CSV -------------------------------------------------------------------------


def test_the_csv_holds_exactly_the_filtered_rows_of_that_person_and_no_text(user_client, user):
    laptop, server = (
        ApiKeyFactory(user=user, name="Laptop"),
        ApiKeyFactory(user=user, name="Server"),
    )
    now = timezone.now()
    secret = "a very private prompt"
    wanted = ingest(laptop, 3, model="a/one", prompt=secret, completion="private completion")
    ingest(laptop, 2, model="b/two", prompt=secret)  # another model
    ingest(server, 2, model="a/one", prompt=secret)  # another key
    ingest(laptop, 2, model="a/one", newest=now - dt.timedelta(days=40))  # out of period
    ingest(ApiKeyFactory(user=UserFactory()), 4, model="a/one", prompt=secret)  # someone else

    response = user_client.get(CSV_URL, {"model": "a/one", "key": laptop.pk, "period": "30"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="activity-')
    rows = csv_rows(response)
    assert [row["request_id"] for row in rows] == [g.gateway_id for g in wanted]
    assert list(rows[0]) == [
        "time_utc", "request_id", "model", "provider", "app_title", "app_url", "key_name",
        "key_prefix", "prompt_tokens", "completion_tokens", "cost_usd", "text_state",
        "status", "error_type",
    ]  # fmt: skip
    first = rows[0]
    assert first["key_name"] == "Laptop" and first["key_prefix"] == laptop.prefix
    assert first["model"] == "a/one" and first["cost_usd"] == "0.00012500"
    assert first["text_state"] == "stored"
    assert (first["status"], first["error_type"]) == ("ok", "")
    assert dt.datetime.fromisoformat(first["time_utc"]) == wanted[0].created_at
    body = json.dumps(rows)
    assert secret not in body and "private completion" not in body


def test_the_csv_streams_with_a_bounded_chunk_size(user, monkeypatch):
    from logging_prefs import selectors

    sizes = []
    original = selectors.Generation.objects.none().__class__.iterator

    def spy(self, chunk_size=None):
        sizes.append(chunk_size)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(type(selectors.Generation.objects.none()), "iterator", spy)
    ingest(ApiKeyFactory(user=user), 3)
    rows = list(selectors.activity_rows_for_user(user=user, filters=selectors.ActivityFilters()))
    assert len(rows) == 3
    assert sizes == [selectors.ACTIVITY_CSV_CHUNK]


def test_the_csv_defuses_spreadsheet_formulas(user_client, user):
    ingest(
        ApiKeyFactory(user=user), 1, app_title='=HYPERLINK("https://evil.example")', model="-m/odel"
    )
    (row,) = csv_rows(user_client.get(CSV_URL))
    assert row["app_title"] == '\'=HYPERLINK("https://evil.example")'
    assert row["model"] == "'-m/odel"


def test_the_csv_needs_sign_in_and_sends_bad_filters_back_to_the_page(user_client):
    response = Client().get(CSV_URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = user_client.get(CSV_URL, {"date_from": "nonsense", "model": "a"})
    assert response.status_code == 302
    assert response["Location"] == f"{ACTIVITY_URL}?date_from=nonsense&model=a"


def test_the_page_links_the_csv_with_its_filters(user_client, user):
    ingest(ApiKeyFactory(user=user), 1)
    html = user_client.get(ACTIVITY_URL, {"model": "openai/gpt-4o", "period": "7"}).content
    assert b'href="/account/activity/export.csv?model=openai%2Fgpt-4o&amp;period=7"' in html


def test_the_page_says_how_long_requests_are_listed(user_client, settings):
    settings.PORTAL_ACTIVITY_RETENTION_DAYS = 123
    page = " ".join(user_client.get(ACTIVITY_URL).content.decode().split())
    assert "Each request is listed for 123 days." in page
    assert "it still counts in the usage below, but is no longer listed" in page


def test_the_csv_and_the_list_say_which_provider_calls_failed(user_client, user):
    key = ApiKeyFactory(user=user, name="Laptop")
    (failed,) = ingest(key, 1, failed=True)
    (answered,) = ingest(key, 1, newest=timezone.now() - dt.timedelta(hours=2))

    rows = {row["request_id"]: row for row in csv_rows(user_client.get(CSV_URL))}
    assert (rows[failed.gateway_id]["status"], rows[failed.gateway_id]["error_type"]) == (
        "error",
        "RateLimitError",
    )
    assert rows[answered.gateway_id]["status"] == "ok"
    page = " ".join(user_client.get(ACTIVITY_URL).content.decode().split())
    assert page.count("Failed (RateLimitError)") == 1
