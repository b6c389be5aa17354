"""Reads of the catalog that more than one caller needs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Count

from catalog.models import Endpoint, EndpointTerms, LanguageModel, Provider
from portal.regions import region_name


def endpoint_refusals(endpoint: EndpointTerms, policy: dict[str, bool]) -> list[str]:
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
    if policy["in_region_only"] and endpoint.region != settings.PORTAL_DATA_REGION:
        reasons.append(_outside_region_reason())
    return reasons


def _outside_region_reason() -> str:
    return f"you keep your requests in {region_name(settings.PORTAL_DATA_REGION)}"


def endpoint_allowed(endpoint: EndpointTerms, policy: dict[str, bool]) -> bool:
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


@dataclass(frozen=True)
class RouteEndpoint(EndpointTerms):
    """An endpoint as the routes endpoint answers with it."""

    provider: str
    input_price: Decimal
    output_price: Decimal
    trains_on_prompts: bool
    retains_prompts: bool
    retention_days: int | None
    publishes_prompts: bool
    region: str


# The gateway's routes, as gateway.selectors reads them with the decision in one
# statement: the model by its unique (author, slug) (catalog_model_author_slug), its
# endpoints and their providers; no row when the catalog has no such model, one row of
# NULLs when it has no endpoint. Raw SQL, for the reason decision_for_key gives: the
# ORM's query building cost more than the query.
ROUTES_COLUMNS = (
    "p.name AS provider, e.input_price AS input_price, e.output_price AS output_price, "
    "e.trains_on_prompts, e.retains_prompts, e.retention_days, e.publishes_prompts, e.region"
)
ROUTES_FROM = (
    f" FROM {LanguageModel._meta.db_table} m"
    f" LEFT JOIN {Endpoint._meta.db_table} e ON e.model_id = m.id"
    f" LEFT JOIN {Provider._meta.db_table} p ON p.id = e.provider_id"
    " WHERE m.author = %s AND m.slug = %s"
)


@dataclass(frozen=True)
class Routes:
    """The endpoints an account's choices allow, cheapest first, and, when they allow
    none, whether "Keep my requests in <region>" alone ruled out the rest (the gateway
    then says so: the other choices would have allowed one abroad)."""

    endpoints: list[RouteEndpoint]
    only_abroad: bool = False


def model_id_parts(model_id: str) -> tuple[str, str] | None:
    """(author, slug) of a model id ("author/slug"), or None for one no model can have."""
    author, sep, slug = model_id.partition("/")
    if not sep or not model_id.isprintable():
        return None
    return author, slug


def routes_from_rows(rows: list[tuple], policy: dict[str, bool]) -> Routes | None:
    """Routes from the rows of ROUTES_COLUMNS, cheapest first (none: no such model)."""
    if not rows:
        return None
    endpoints = [route_endpoint(row) for row in rows if row[0] is not None]
    allowed = [endpoint for endpoint in endpoints if endpoint_allowed(endpoint, policy)]
    if allowed or not policy["in_region_only"]:
        return Routes(allowed)
    anywhere = policy | {"in_region_only": False}
    return Routes([], only_abroad=any(endpoint_allowed(e, anywhere) for e in endpoints))


def region_refusal_detail(model_id: str) -> str:
    """The 409's reason when only the region rule (the account's or the key's) rules out
    every endpoint."""
    return (
        f"The account or its key keeps its requests in "
        f"{region_name(settings.PORTAL_DATA_REGION)} and none of {model_id}'s endpoints "
        "that its other choices allow runs there: the user can change “Keep my requests "
        "in” on the privacy page, or the key's own setting on its page."
    )


def route_endpoint(row: tuple) -> RouteEndpoint:
    """A row of ROUTES_COLUMNS as an endpoint (Decimal prices, bools)."""
    provider, input_price, output_price, trains, retains, days, publishes, region = row
    return RouteEndpoint(
        provider=provider,
        input_price=input_price,
        output_price=output_price,
        trains_on_prompts=trains,
        retains_prompts=retains,
        retention_days=days,
        publishes_prompts=publishes,
        region=region,
    )
