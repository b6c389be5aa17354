"""logging_prefs.activity_rows: the activity tables' cells, formatted in Python, read
exactly as the template filters they replace wrote them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template

from logging_prefs.activity_rows import exact_cost, period_rows, request_rows
from logging_prefs.charts import buckets
from logging_prefs.models import Generation
from logging_prefs.selectors import UsageFigures
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationFactory, set_text_state

# The cells as the template wrote them before the rows were made in Python.
TEMPLATE_ROW = Template(
    "{% url 'account_activity_detail' generation.pk %}|{{ generation.created_at|date:'c' }}|"
    '{{ generation.created_at|date:"j M Y H:i" }}|'
    '{% if generation.app_url|slice:":8" == "https://" '
    'or generation.app_url|slice:":7" == "http://" %}'
    "{{ generation.app_url }}|"
    "{{ generation.app_title|default:generation.app_url|truncatechars:60 }}"
    "{% elif generation.app_title %}|{{ generation.app_title }}{% else %}|—{% endif %}|"
    "{% if generation.api_key %}{{ generation.api_key.name }}{% else %}—{% endif %}|"
    "{{ generation.prompt_tokens|add:generation.completion_tokens }}|"
    '{{ generation.cost_usd|floatformat:"-8" }}|'
    '{% if generation.text_state == "stored" %}Stored'
    '{% elif generation.text_state == "not_logged" %}'
    'Not stored{% elif generation.text_state == "expired" %}Expired{% else %}Deleted{% endif %}'
)


@pytest.mark.parametrize(
    "value",
    ["0", "0.00000001", "0.00001000", "1", "1.00000000", "12.5", "0.12345678", "123456.00000001"],
)
def test_exact_cost_matches_floatformat(value):
    expected = Template('{{ value|floatformat:"-8" }}').render(Context({"value": Decimal(value)}))
    assert exact_cost(Decimal(value)) == expected


@pytest.mark.django_db
def test_request_rows_match_the_template_cells_they_replace():
    user = UserFactory()
    key = ApiKeyFactory(user=user, name="Chat <key>")
    long_title = "A very long app title " * 5
    cases = [
        {"app_url": "https://chat.example.com/", "app_title": long_title},
        {"app_url": "http://plain.example.com/", "app_title": ""},
        {"app_url": "javascript:alert(1)", "app_title": "Evil"},
        {"app_url": "javascript:alert(1)", "app_title": ""},
        {"app_url": "", "app_title": ""},
    ]
    generations = []
    for n, case in enumerate(cases):
        generation = GenerationFactory(
            api_key=key,
            cost_usd=Decimal("2") if n == 0 else Decimal("0.00012300"),
            prompt_tokens=10 + n,
            completion_tokens=5,
        )
        # Written directly: ingestion accepts only http(s) URLs, the page must still
        # never link anything else (rows stored before that rule, or by hand).
        Generation.objects.filter(pk=generation.pk).update(**case)
        generations.append(generation)
    for generation, state in zip(
        generations,
        [
            Generation.TextState.STORED,
            Generation.TextState.NOT_LOGGED,
            Generation.TextState.EXPIRED,
            Generation.TextState.DELETED,
        ],
        strict=False,
    ):
        set_text_state(generation, state)
    # A key deleted since: its requests stay, with no key.
    Generation.objects.filter(pk__in=[g.pk for g in generations[::2]]).update(api_key=None)
    loaded = list(Generation.objects.filter(user=user).select_related("api_key").order_by("id"))

    rows = request_rows(loaded)

    for generation, row in zip(loaded, rows, strict=True):
        expected = TEMPLATE_ROW.render(Context({"generation": generation}))
        made = "|".join(
            str(cell)
            for cell in (
                row.detail_url,
                row.created_iso,
                row.created_text,
                row.app_url,
                row.app_label,
                row.key_name,
                row.tokens,
                row.cost_text,
                row.text_label,
            )
        )
        # The template escapes; the rows are escaped when the page renders them.
        assert made == expected.replace("&lt;", "<").replace("&gt;", ">")
        assert row.model == generation.model
        assert row.provider == generation.provider


def test_period_rows_name_each_day_with_its_year_and_each_month_without():
    last = dt.date(2026, 1, 2)
    by_day = {
        dt.date(2025, 12, 31): UsageFigures(1, 2, 3, Decimal("0.50000000")),
        last: UsageFigures(4, 5, 6, Decimal("0.00000100")),
    }
    unit, bars = buckets(by_day, dt.date(2025, 12, 31), last)
    rows = period_rows(bars, unit)
    assert unit == "day"
    assert [(r.iso, r.label, r.requests, r.tokens, r.cost_text) for r in rows] == [
        ("2025-12-31", "31 Dec 2025", 1, 5, "0.50000000"),
        ("2026-01-01", "1 Jan 2026", 0, 0, "0"),
        ("2026-01-02", "2 Jan 2026", 4, 11, "0.00000100"),
    ]
    unit, bars = buckets(by_day, dt.date(2025, 6, 1), last)
    assert unit == "month"
    assert [r.label for r in period_rows(bars, unit)][-2:] == ["Dec 2025", "Jan 2026"]


@pytest.mark.django_db
def test_a_failed_provider_call_is_marked_with_its_failure():
    key = ApiKeyFactory(user=UserFactory())
    failed = GenerationFactory(api_key=key, status="error", error_type="RateLimitError")
    unnamed = GenerationFactory(api_key=key, status="error")
    answered = GenerationFactory(api_key=key)
    loaded = Generation.objects.select_related("api_key").filter(
        pk__in=[failed.pk, unnamed.pk, answered.pk]
    )
    failures = {row.detail_url: row.failure for row in request_rows(list(loaded))}
    assert failures == {
        f"/account/activity/{failed.pk}/": "Failed (RateLimitError)",
        f"/account/activity/{unnamed.pk}/": "Failed",
        f"/account/activity/{answered.pk}/": "",
    }
