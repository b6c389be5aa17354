"""The activity page's tables as plain strings, formatted in Python before rendering.

The page shows up to 50 requests and a row per day of the period. With each cell
formatted in the template (a `{% url %}`, `date` and `floatformat` filters and an include
per request) rendering took 16-19 ms of the page's CPU time; with the cells made here
(about 1.5 ms) it takes about 9 (bench/README.md, "activity"). The template only places
the strings; Django's escaping still applies to every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator

from logging_prefs.charts import Bucket
from logging_prefs.models import Generation

# How long an app's title or URL may be in a table cell before it is cut with "…".
APP_LABEL_CHARS = 60

TEXT_LABELS = {
    Generation.TextState.STORED: "Stored",
    Generation.TextState.NOT_LOGGED: "Not stored",
    Generation.TextState.EXPIRED: "Expired",
}
# Any other state (a deletion by the person, by support or with the account).
TEXT_LABEL_OTHER = "Deleted"


def exact_cost(value: Decimal) -> str:
    """The cost as Django's `floatformat:"-8"` writes it: eight decimals, none for a
    whole number (tests/logging_prefs/test_activity_rows.py compares the two)."""
    rounded = value.quantize(Decimal("0.00000001"))
    if rounded == rounded.to_integral_value():
        return f"{rounded:.0f}"
    return f"{rounded:.8f}"


def app_link(app_url: str) -> str:
    """The app's URL when the page may link to it (http or https only), else ""."""
    return app_url if app_url.startswith(("https://", "http://")) else ""


def app_label(app_url: str, app_title: str) -> str:
    """What names the app in a table: its title, else its URL, else "—"."""
    if app_link(app_url):
        return Truncator(app_title or app_url).chars(APP_LABEL_CHARS)
    return app_title or "—"


def _failure(generation: Generation) -> str:
    if generation.status != Generation.Status.ERROR:
        return ""
    return f"Failed ({generation.error_type})" if generation.error_type else "Failed"


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One request of the list, every cell a string."""

    generation_id: int
    detail_url: str
    created_iso: str
    created_text: str
    model: str
    provider: str
    app_url: str
    app_label: str
    key_name: str
    tokens: int
    cost_text: str
    text_label: str
    # "" for an answered request; the failure for a provider call that failed.
    failure: str


def request_rows(generations: list[Generation]) -> list[RequestRow]:
    """The list's rows for `generations` (loaded with their key, as
    activity_page_for_user does)."""
    # One reverse for the page, not one per row: the ids are filled in below.
    detail = reverse("account_activity_detail", args=[0])
    prefix, suffix = detail.rsplit("0", 1)
    rows = []
    for generation in generations:
        created = timezone.localtime(generation.created_at)
        key = generation.api_key
        rows.append(
            RequestRow(
                generation_id=generation.pk,
                detail_url=f"{prefix}{generation.pk}{suffix}",
                created_iso=created.isoformat(),
                created_text=f"{created.day} {created:%b %Y %H:%M}",
                model=generation.model,
                provider=generation.provider,
                app_url=app_link(generation.app_url),
                app_label=app_label(generation.app_url, generation.app_title),
                key_name=key.name if key is not None else "—",
                tokens=generation.prompt_tokens + generation.completion_tokens,
                cost_text=exact_cost(generation.cost_usd),
                text_label=TEXT_LABELS.get(generation.text_state, TEXT_LABEL_OTHER),
                failure=_failure(generation),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """One row of the charts' table: a day or a month."""

    iso: str
    label: str
    requests: int
    tokens: int
    cost_text: str


def period_rows(bars: list[Bucket], unit: str) -> list[PeriodRow]:
    return [
        PeriodRow(
            iso=bar.start.isoformat(),
            label=f"{bar.label} {bar.start.year}" if unit == "day" else bar.label,
            requests=bar.figures.requests,
            tokens=bar.figures.tokens,
            cost_text=exact_cost(bar.figures.cost_usd),
        )
        for bar in bars
    ]
