"""Public model pages: each model's endpoints with their price and data policy (the
catalog), and the anonymous category aggregates.

The aggregates come from CategoryDailyCount only: counts per model, category and day,
with no user, key or text behind them (see categories.py). A signed-in visitor also
sees which endpoints their own privacy choices allow, and why not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalog.selectors import catalog_model, catalog_models, endpoints_for_model
from logging_prefs.categories import CATEGORY_LABELS
from logging_prefs.models import CategoryDailyCount
from logging_prefs.selectors import logging_preference_for_user

# The detail page shows the last 30 days, today included.
DETAIL_WINDOW_DAYS = 30


@dataclass(frozen=True)
class ModelTotal:
    model: str
    author: str
    slug: str
    total: int
    endpoints: int


@dataclass(frozen=True)
class CategoryShare:
    category: str
    label: str
    count: int
    percent: float


def _split_model(model: str) -> tuple[str, str] | None:
    author, sep, slug = model.partition("/")
    if not sep or not author or not slug or "/" in slug:
        return None
    return author, slug


@require_GET
def models_index(request: HttpRequest) -> HttpResponse:
    totals: dict[str, int] = {}
    # catcount_model_day (model, day) serves the GROUP BY model.
    rows = CategoryDailyCount.objects.values("model").annotate(total=Sum("count")).order_by("model")
    for row in rows:
        totals[row["model"]] = row["total"]
    # The catalog's models, and any other model with categorised requests.
    endpoint_counts = {model.model_id: model.endpoint_count for model in catalog_models()}
    entries = []
    for model in sorted(endpoint_counts.keys() | totals.keys()):
        parts = _split_model(model)
        if parts is None:  # not an "author/slug" name: there is no page to link to
            continue
        entries.append(
            ModelTotal(
                model,
                *parts,
                total=totals.get(model, 0),
                endpoints=endpoint_counts.get(model, 0),
            )
        )
    return render(request, "logging_prefs/public/models_index.html", {"models": entries})


@require_GET
def model_detail(request: HttpRequest, author: str, slug: str) -> HttpResponse:
    model = f"{author}/{slug}"
    if not model.isprintable():
        # No model is named with a control character, and PostgreSQL refuses a NUL in
        # a query: such an address is a missing page, not an error.
        raise Http404("No such model")
    entry = catalog_model(author=author, slug=slug)
    counts = CategoryDailyCount.objects.filter(model=model)
    if entry is None and not counts.exists():
        raise Http404("No such model")
    policy = None
    if request.user.is_authenticated:
        policy = logging_preference_for_user(user=request.user).provider_policy()
    endpoints = [] if entry is None else endpoints_for_model(entry, policy=policy)
    until = timezone.now().astimezone(dt.UTC).date()
    since = until - dt.timedelta(days=DETAIL_WINDOW_DAYS - 1)
    rows = (
        counts.filter(day__gte=since, day__lte=until)
        .values("category")
        .annotate(n=Sum("count"))
        .order_by("-n", "category")
    )
    total = sum(row["n"] for row in rows)
    shares = [
        CategoryShare(
            category=row["category"],
            label=CATEGORY_LABELS.get(row["category"], row["category"].capitalize()),
            count=row["n"],
            percent=round(100 * row["n"] / total, 1),
        )
        for row in rows
        if row["n"]
    ]
    context = {
        "model": model,
        "entry": entry,
        "endpoints": endpoints,
        "signed_in": policy is not None,
        "shares": shares,
        "total": total,
        "since": since,
        "until": until,
        "window_days": DETAIL_WINDOW_DAYS,
    }
    return render(request, "logging_prefs/public/model_detail.html", context)
