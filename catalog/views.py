"""The public model pages under /models/: each model's endpoints with their price and
data policy, and what people used it for.

Only the catalog's models have a page. The usage categories are counted by logging_prefs
(logging_prefs/categories.py, CategoryDailyCount: no user, key or text behind them); these
pages read them through logging_prefs.selectors.published_category_counts, which lets out
only counts per model and category over the last 30 days, each at least
PORTAL_CATEGORY_MIN_COUNT. A signed-in visitor also sees which endpoints their own
privacy choices allow, and why not; every visitor sees what each choice would change
for the model (catalog/privacy_price.py), from their choices or a new account's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalog.privacy_price import model_price_of_privacy, route_endpoint_of
from catalog.selectors import catalog_model, catalog_models, endpoints_for_model
from logging_prefs.categories import CATEGORY_LABELS
from logging_prefs.selectors import (
    default_provider_policy,
    logging_preference_for_user,
    published_category_counts,
)
from portal import regions

# Both pages show the last 30 days, today included: the same cells, so that nothing one
# page leaves out can be worked out from the other.
WINDOW_DAYS = 30


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


def _window() -> tuple[dt.date, dt.date]:
    until = timezone.now().astimezone(dt.UTC).date()
    return until - dt.timedelta(days=WINDOW_DAYS - 1), until


def _window_context(since: dt.date, until: dt.date) -> dict:
    return {
        "since": since,
        "until": until,
        "window_days": WINDOW_DAYS,
        "min_count": settings.PORTAL_CATEGORY_MIN_COUNT,
    }


@require_GET
def models_index(request: HttpRequest) -> HttpResponse:
    models = catalog_models()
    since, until = _window()
    published = published_category_counts(
        models=[model.model_id for model in models], since=since, until=until
    )
    entries = [
        ModelTotal(
            model.model_id,
            model.author,
            model.slug,
            total=sum(published.get(model.model_id, {}).values()),
            endpoints=model.endpoint_count,
        )
        for model in models
    ]
    return render(
        request,
        "catalog/models_index.html",
        {"models": entries, **_window_context(since, until)},
    )


@require_GET
def model_detail(request: HttpRequest, author: str, slug: str) -> HttpResponse:
    model = f"{author}/{slug}"
    if not model.isprintable():
        # No model is named with a control character, and PostgreSQL refuses a NUL in
        # a query: such an address is a missing page, not an error.
        raise Http404("No such model")
    entry = catalog_model(author=author, slug=slug)
    if entry is None:
        # A model outside the catalog may be one customer's own: not even whether it
        # was used is shown.
        raise Http404("No such model")
    policy = None
    if request.user.is_authenticated:
        policy = logging_preference_for_user(user=request.user).provider_policy()
    endpoints = endpoints_for_model(entry, policy=policy)
    # What each choice would change, from the viewer's choices or, for a visitor, those
    # a new account starts with; from the endpoints just read, so no further query.
    price_of_privacy = model_price_of_privacy(
        [route_endpoint_of(item.endpoint) for item in endpoints],
        policy if policy is not None else default_provider_policy(),
    )
    since, until = _window()
    counts = published_category_counts(models=[model], since=since, until=until).get(model, {})
    total = sum(counts.values())
    shares = [
        CategoryShare(
            category=category,
            label=CATEGORY_LABELS.get(category, category.capitalize()),
            count=n,
            percent=round(100 * n / total, 1),
        )
        for category, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    context = {
        "model": model,
        "entry": entry,
        "endpoints": endpoints,
        "signed_in": policy is not None,
        "price_changes": [effect for effect in price_of_privacy if effect.changes_anything],
        "price_unchanged": [effect for effect in price_of_privacy if not effect.changes_anything],
        "data_region": regions.data_region(),
        "data_region_name": regions.data_region_name(),
        "shares": shares,
        "total": total,
        **_window_context(since, until),
    }
    return render(request, "catalog/model_detail.html", context)
