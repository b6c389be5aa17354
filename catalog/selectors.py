"""Reads of the catalog that more than one caller needs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count

from catalog.models import Endpoint, LanguageModel


def endpoint_refusals(endpoint: Endpoint, policy: dict[str, bool]) -> list[str]:
    """Why an account's provider data-policy choices (LoggingPreference's
    PROVIDER_POLICY_FIELDS, as the gateway's decision carries them) rule the endpoint
    out, in the words of the privacy page; empty when they allow it."""
    reasons = []
    if policy["zdr_only"] and not endpoint.zero_data_retention:
        reasons.append("you chose zero-data-retention endpoints only")
    if endpoint.trains_on_prompts:
        if endpoint.is_free and not policy["allow_training_free"]:
            reasons.append("you do not allow free endpoints that may train on prompts")
        if not endpoint.is_free and not policy["allow_training_paid"]:
            reasons.append("you do not allow paid endpoints that may train on prompts")
    if endpoint.retains_prompts and not policy["allow_retention"]:
        reasons.append("you do not allow endpoints that retain prompts")
    if endpoint.publishes_prompts and not policy["allow_publication"]:
        reasons.append("you do not allow endpoints that may publish prompts")
    return reasons


def endpoint_allowed(endpoint: Endpoint, policy: dict[str, bool]) -> bool:
    return not endpoint_refusals(endpoint, policy)


@dataclass(frozen=True)
class EndpointView:
    endpoint: Endpoint
    # None when nobody is signed in: the page then shows the policy alone.
    refusals: list[str] | None

    @property
    def allowed(self) -> bool | None:
        return None if self.refusals is None else not self.refusals

    @property
    def input_price_text(self) -> str:
        return format_price(self.endpoint.input_price)

    @property
    def output_price_text(self) -> str:
        return format_price(self.endpoint.output_price)


def format_price(price: Decimal) -> str:
    """Dollars per million tokens as people write them: 2.50, 10.00, 0.075."""
    normalized = price.normalize()
    if normalized.as_tuple().exponent > -2:
        normalized = price.quantize(Decimal("0.01"))
    return f"{normalized:f}"


def catalog_model(*, author: str, slug: str) -> LanguageModel | None:
    # catalog_model_author_slug serves the lookup.
    return LanguageModel.objects.filter(author=author, slug=slug).first()


def endpoints_for_model(
    model: LanguageModel, *, policy: dict[str, bool] | None
) -> list[EndpointView]:
    """The model's endpoints, cheapest first (prompt price, then completion price), each
    with why the given choices rule it out (None: no choices given). One query."""
    endpoints = (
        Endpoint.objects.filter(model=model)
        .select_related("provider")
        .order_by("input_price", "output_price", "provider__name")
    )
    return [
        EndpointView(
            endpoint=endpoint,
            refusals=None if policy is None else endpoint_refusals(endpoint, policy),
        )
        for endpoint in endpoints
    ]


def catalog_models() -> list[LanguageModel]:
    """Every catalogued model with its number of endpoints (endpoint_count)."""
    return list(
        LanguageModel.objects.annotate(endpoint_count=Count("endpoints")).order_by("author", "slug")
    )


def routes_for(*, model_id: str, policy: dict[str, bool]) -> list[Endpoint] | None:
    """The endpoints of `model_id` ("author/slug") that the account's choices allow,
    cheapest first; None when the catalog has no such model. One query when the model
    has endpoints (the gateway's path), two when it has none."""
    author, sep, slug = model_id.partition("/")
    if not sep or not model_id.isprintable():
        return None
    endpoints = list(
        Endpoint.objects.filter(model__author=author, model__slug=slug)
        .select_related("provider")
        .order_by("input_price", "output_price", "provider__name")
    )
    if not endpoints and catalog_model(author=author, slug=slug) is None:
        return None
    return [endpoint for endpoint in endpoints if endpoint_allowed(endpoint, policy)]
