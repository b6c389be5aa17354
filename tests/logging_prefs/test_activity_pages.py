"""/account/activity/ and /account/activity/<id>/: the user's generations."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import Generation
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationFactory, ingest, set_text_state

pytestmark = pytest.mark.django_db

ACTIVITY_URL = "/account/activity/"
OLDER_LINK = re.compile(r'<a href="([^"]+)" rel="next">Older →</a>')


def detail_url(generation: Generation | int) -> str:
    pk = generation if isinstance(generation, int) else generation.pk
    return f"{ACTIVITY_URL}{pk}/"


def text_of(response) -> str:
    return " ".join(response.content.decode().split())


def shown_ids(response) -> list[int]:
    return [row.generation_id for row in response.context["requests"]]


def form_errors(response) -> dict[str, list[str]]:
    return {
        name: [str(e) for e in errors] for name, errors in response.context["form"].errors.items()
    }


def older_url(response) -> str | None:
    match = OLDER_LINK.search(response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def api_key(user):
    return ApiKeyFactory(user=user, name="Chat app key")


def test_activity_pages_require_sign_in(client, api_key):
    generation = GenerationFactory(api_key=api_key)
    for url in (ACTIVITY_URL, detail_url(generation)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_activity_lists_own_generations_newest_first_with_their_metadata(user_client, api_key):
    older = GenerationFactory(
        api_key=api_key,
        created_at=timezone.now() - dt.timedelta(hours=2),
        model="anthropic/claude-sonnet-4",
        provider="Anthropic",
        prompt_tokens=100,
        completion_tokens=23,
        cost_usd="0.00420000",
    )
    newer = GenerationFactory(api_key=api_key, created_at=timezone.now() - dt.timedelta(minutes=5))

    response = user_client.get(ACTIVITY_URL)

    assert response.status_code == 200
    assert shown_ids(response) == [newer.pk, older.pk]
    text = text_of(response)
    for expected in (
        "anthropic/claude-sonnet-4",
        "Anthropic",
        "openai/gpt-4o",
        "Chat app key",
        ">123<",  # tokens: prompt + completion
        "0.00420000",
        "Stored",
    ):
        assert expected in text, expected


def test_activity_says_when_text_was_not_stored(user_client, user, api_key):
    do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": False})
    ingest(api_key)
    assert "Not stored" in text_of(user_client.get(ACTIVITY_URL))


def test_activity_links_the_app_safely_or_shows_a_dash(user_client, api_key):
    ingest(api_key, app_url="https://writer.example.org/", app_title="Writer")
    ingest(api_key, app_url=None, app_title=None)
    html = user_client.get(ACTIVITY_URL).content.decode()
    assert (
        '<a href="https://writer.example.org/" rel="noopener noreferrer nofollow">Writer</a>'
        in html
    )
    assert re.search(r'<td class="wrap narrow">\s*—\s*</td>', html)


def test_activity_list_does_not_load_prompt_text(user_client, api_key):
    ingest(api_key, prompt="A very private prompt", completion="A very private completion")
    with CaptureQueriesContext(connection) as queries:
        response = user_client.get(ACTIVITY_URL)
    assert "A very private prompt" not in response.content.decode()
    assert len(response.context["requests"]) == 1
    # No query of the page reads the text columns.
    table = Generation._meta.db_table
    for column in ("prompt", "completion"):
        assert not [q for q in queries if f'"{table}"."{column}"' in q["sql"]], column


def test_user_cannot_see_another_users_generation(user_client, user):
    other_key = ApiKeyFactory(user=UserFactory(), name="Other person's key")
    theirs = GenerationFactory(api_key=other_key, prompt="their secret prompt", model="their/model")
    mine = GenerationFactory(api_key=ApiKeyFactory(user=user))

    listing = user_client.get(ACTIVITY_URL)
    assert shown_ids(listing) == [mine.pk]
    assert "their/model" not in listing.content.decode()

    detail = user_client.get(detail_url(theirs))
    assert detail.status_code == 404
    assert "their secret prompt" not in detail.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/account/activity/abc/",
        "/account/activity/-5/",
        "/account/activity/0/",
        "/account/activity/99999999999999999999999/",
    ],
)
def test_forged_generation_ids_are_not_found(user_client, api_key, path):
    ingest(api_key)
    assert user_client.get(path).status_code == 404


def test_activity_detail_shows_all_metadata_and_the_stored_text_escaped(
    user_client, api_key, settings
):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    generation = GenerationFactory(
        api_key=api_key,
        prompt="<script>alert('x')</script>\nSecond line",
        completion="I will not run <b>that</b>.",
        app_url="https://writer.example.org/",
        app_title="Writer",
        prompt_tokens=7,
        completion_tokens=5,
    )

    response = user_client.get(detail_url(generation))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert" not in html
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\nSecond line"
    assert f'<pre class="text-block">{escaped}</pre>' in html
    assert "I will not run &lt;b&gt;that&lt;/b&gt;." in html
    text = text_of(response)
    for expected in (
        "openai/gpt-4o",
        "OpenAI",
        "Writer",
        "https://writer.example.org/",
        "Chat app key",
        api_key.prefix,
        "7 prompt + 5 completion = 12",
        "0.00012500 USD",
        generation.gateway_id,
        "deleted 30 days after the request",
    ):
        assert expected in text, expected
    assert 'rel="noopener noreferrer nofollow"' in html


def test_activity_detail_shows_an_answered_call_as_answered(user_client, api_key):
    generation = GenerationFactory(api_key=api_key)
    html = user_client.get(detail_url(generation)).content.decode()
    assert "<dt>Status</dt><dd>Answered</dd>" in html
    assert "call failed" not in html


def test_activity_detail_shows_a_failed_call_and_no_text(user_client, api_key):
    generation = GenerationFactory(api_key=api_key, failed=True)
    html = user_client.get(detail_url(generation)).content.decode()
    assert (
        "<dt>Status</dt><dd>Failed: the provider&#x27;s call did not succeed "
        "<code>RateLimitError</code></dd>"
    ) in html
    text = text_of(user_client.get(detail_url(generation)))
    assert "None: the provider's call failed, and no text was stored." in text
    assert "Stored because prompt logging was on" not in text


def test_activity_detail_says_not_stored_when_logging_was_off(user_client, user, api_key):
    do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": False})
    generation = GenerationFactory(api_key=api_key, prompt="never to be kept")
    assert generation.text_state == Generation.TextState.NOT_LOGGED

    text = text_of(user_client.get(detail_url(generation)))

    assert "Not stored: logging was off." in text
    assert "never to be kept" not in text
    assert "text-block" not in text


def test_activity_detail_says_not_stored_when_the_key_never_logs(user_client, user):
    strict_key = ApiKeyFactory(user=user, name="Strict", logging=ApiKey.Logging.NEVER)
    generation = GenerationFactory(api_key=strict_key)
    assert "Not stored: logging was off." in text_of(user_client.get(detail_url(generation)))


def test_activity_detail_says_expired_after_the_retention_period(user_client, api_key, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 14
    generation = set_text_state(GenerationFactory(api_key=api_key), Generation.TextState.EXPIRED)
    text = text_of(user_client.get(detail_url(generation)))
    assert "Expired after 14 days." in text
    assert "Translate" not in text


def test_activity_detail_says_deleted_at_the_users_request(user_client, api_key):
    generation = set_text_state(GenerationFactory(api_key=api_key), Generation.TextState.DELETED)
    text = text_of(user_client.get(detail_url(generation)))
    assert "Deleted at your request." in text
    assert "Translate" not in text


def test_activity_pages_through_every_row_once_with_an_older_link(user_client, api_key):
    # 60 rows one minute apart and 60 sharing one timestamp: the cursor must break ties
    # on id, never skip or repeat a row.
    spread = ingest(api_key, 60)
    same_time = ingest(api_key, 60, newest=spread[-1].created_at, step=dt.timedelta(0))
    expected = [
        g.pk for g in sorted(spread + same_time, key=lambda g: (g.created_at, g.pk), reverse=True)
    ]

    seen: list[int] = []
    url = ACTIVITY_URL
    pages = 0
    while url:
        response = user_client.get(url)
        assert response.status_code == 200
        assert len(shown_ids(response)) <= 50
        seen += shown_ids(response)
        url = older_url(response)
        pages += 1
        assert pages <= 5
    assert seen == expected
    assert pages == 3


def test_activity_cursor_is_opaque_and_keeps_the_filters(user_client, api_key):
    generations = ingest(api_key, 55, model="mistral/large")
    ingest(api_key, 3, model="other/model")
    first = user_client.get(ACTIVITY_URL, {"model": "mistral/large"})
    link = older_url(first)
    assert link
    query = parse_qs(urlsplit(link).query)
    assert query["model"] == ["mistral/large"]
    cursor = query["cursor"][0]
    assert str(generations[49].pk) not in cursor
    assert generations[49].created_at.isoformat() not in cursor

    second = user_client.get(link)
    assert shown_ids(second) == [g.pk for g in generations[50:]]
    assert older_url(second) is None
    assert "← Newest" in second.content.decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "x" * 5000,
        "WzEsMl0:1sAbCd:forgedsignature",
        "%00%ff",
    ],
)
def test_tampered_cursor_is_ignored_with_a_message(user_client, api_key, cursor):
    generations = ingest(api_key, 3)
    response = user_client.get(ACTIVITY_URL, {"cursor": cursor})
    assert response.status_code == 200
    assert shown_ids(response) == [g.pk for g in generations]
    if cursor:
        assert "That page link is not valid" in response.content.decode()


def test_a_cursor_signed_for_something_else_is_refused(user_client, api_key):
    from django.core import signing

    generations = ingest(api_key, 3)
    forged = signing.dumps([generations[0].created_at.isoformat(), generations[0].pk])
    response = user_client.get(ACTIVITY_URL, {"cursor": forged})
    assert shown_ids(response) == [g.pk for g in generations]
    assert "That page link is not valid" in response.content.decode()


def test_activity_filters_by_model_app_key_and_dates(user_client, user, api_key):
    other_key = ApiKeyFactory(user=user, name="Second key")
    now = timezone.now()
    gpt = GenerationFactory(
        api_key=api_key, model="openai/gpt-4o", created_at=now - dt.timedelta(days=3)
    )
    claude = GenerationFactory(
        api_key=api_key,
        model="anthropic/claude-sonnet-4",
        app_url="https://notes.example.net/",
        app_title="Notes",
        created_at=now - dt.timedelta(days=1),
    )
    second = GenerationFactory(
        api_key=other_key, model="openai/gpt-4o", app_title="Batch", app_url=None
    )

    def ids(**params):
        response = user_client.get(ACTIVITY_URL, params)
        assert response.status_code == 200
        assert not response.context["form"].errors
        return set(shown_ids(response))

    assert ids(model="openai/gpt-4o") == {gpt.pk, second.pk}
    assert ids(model="anthropic/claude-sonnet-4") == {claude.pk}
    assert ids(app="https://notes.example.net/") == {claude.pk}
    assert ids(app="Batch") == {second.pk}
    assert ids(key=other_key.pk) == {second.pk}
    assert ids(key=api_key.pk, model="openai/gpt-4o") == {gpt.pk}
    day = (now - dt.timedelta(days=1)).date()
    assert ids(date_from=day.isoformat(), date_to=day.isoformat()) == {claude.pk}
    assert ids(date_to=(now - dt.timedelta(days=2)).date().isoformat()) == {gpt.pk}
    assert ids(model="no/such-model") == set()


def test_model_filter_suggests_recent_models(user_client, api_key):
    ingest(api_key, model="google/gemini-2.5-pro")
    html = user_client.get(ACTIVITY_URL).content.decode()
    assert '<option value="google/gemini-2.5-pro"></option>' in html
    assert 'list="recent-models"' in html


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"date_from": "2025-02-30"}, "date_from", "Enter a date as YYYY-MM-DD."),
        ({"date_to": "yesterday"}, "date_to", "Enter a date as YYYY-MM-DD."),
        ({"date_from": "0001-01-01"}, "date_from", "Enter a date between 2000 and 9998."),
        ({"date_to": "9999-12-31"}, "date_to", "Enter a date between 2000 and 9998."),
        (
            {"date_from": "2025-03-02", "date_to": "2025-03-01"},
            "date_to",
            "The end date must be on or after the start date.",
        ),
        ({"key": "abc"}, "key", "Choose one of your API keys."),
        ({"key": "99999999999999999999999"}, "key", "Choose one of your API keys."),
        ({"model": "m" * 201}, "model", "at most 200 characters"),
        ({"model": "bad\x00model"}, "model", "Null characters are not allowed."),
    ],
)
def test_bad_filters_are_form_errors_not_server_errors(
    user_client, api_key, params, field, message
):
    ingest(api_key)
    response = user_client.get(ACTIVITY_URL, params)
    assert response.status_code == 200
    errors = form_errors(response)
    assert any(message in error for error in errors.get(field, [])), errors
    assert shown_ids(response) == []
    assert "Fix the filter above" in response.content.decode()


def test_key_filter_refuses_another_users_key(user_client, api_key):
    other_key = ApiKeyFactory(user=UserFactory(), name="Not yours")
    ingest(other_key)
    ingest(api_key)
    response = user_client.get(ACTIVITY_URL, {"key": other_key.pk})
    assert "Choose one of your API keys." in form_errors(response)["key"]
    assert shown_ids(response) == []
    assert "Not yours" not in response.content.decode()


def test_activity_page_never_counts_or_offsets(user_client, api_key, django_assert_max_num_queries):
    ingest(api_key, 120)
    first = user_client.get(ACTIVITY_URL)
    with django_assert_max_num_queries(20) as captured:
        user_client.get(older_url(first))
    for query in captured.captured_queries:
        sql = query["sql"].upper()
        assert "OFFSET" not in sql, sql
        assert "COUNT(" not in sql, sql
        if "DISTINCT" in sql:
            raise AssertionError(f"DISTINCT over the user's rows: {sql}")


@pytest.mark.parametrize("rows", [5, 300])
def test_activity_page_query_count_is_bounded_whatever_the_data_size(
    user_client, user, api_key, rows, django_assert_max_num_queries
):
    second_key = ApiKeyFactory(user=user, name="Second key")
    ingest(api_key, rows // 2 + rows % 2)
    ingest(second_key, rows // 2)
    user_client.get(ACTIVITY_URL)  # warm the session cache

    # The same bound for 5 and 300 rows; most of it is the sign-in and session machinery.
    with django_assert_max_num_queries(11) as captured:
        response = user_client.get(ACTIVITY_URL, {"key": "", "model": ""})

    assert response.status_code == 200
    assert len(shown_ids(response)) == min(rows, 50)
    ours = [q["sql"] for q in captured.captured_queries if "logging_prefs_generation" in q["sql"]]
    assert len(ours) <= 2, ours  # the page (keys joined in) and the model suggestions


@pytest.mark.parametrize("rows", [5, 300])
def test_activity_detail_query_count_is_bounded_whatever_the_data_size(
    user_client, api_key, rows, django_assert_max_num_queries
):
    generation = ingest(api_key, rows)[0]
    user_client.get(ACTIVITY_URL)
    with django_assert_max_num_queries(8):
        assert user_client.get(detail_url(generation)).status_code == 200
