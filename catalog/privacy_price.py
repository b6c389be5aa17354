"""The price of privacy: what each provider data-policy choice changes, read from the
live catalog (issue 16, item 3).

A choice is one of the account's provider data-policy fields
(LoggingPreference.PROVIDER_POLICY_FIELDS); switching it, all else as it is, opens
endpoints (an "allow" turned on, an "only" turned off) or closes them. For one model
that changes which endpoint is the cheapest the choices allow, or whether any is left
(`model_price_of_privacy`, the model pages); across the catalog it changes how many
endpoints, and how many models, the choices allow (`catalog_price_of_privacy`, the
privacy page).

Which endpoints a set of choices allows is catalog.selectors.endpoint_allowed, the rule
the gateway's routes apply, so what these pages say is what routing would do. "Cheapest"
is the routes' order: prompt price, then completion price, then provider name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from catalog.models import Endpoint
from catalog.selectors import RouteEndpoint, endpoint_allowed, format_price
from logging_prefs.models import LoggingPreference
from portal.regions import data_region_name

CHOICES = LoggingPreference.PROVIDER_POLICY_FIELDS


def choice_action(choice: str, value: bool) -> str:
    """Switching `choice` to `value`, as the start of a sentence."""
    region = data_region_name()
    actions = {
        "allow_training_paid": (
            "Allowing paid endpoints that may train on prompts",
            "Refusing paid endpoints that may train on prompts",
        ),
        "allow_training_free": (
            "Allowing free endpoints that may train on prompts",
            "Refusing free endpoints that may train on prompts",
        ),
        "allow_retention": (
            "Allowing endpoints that retain prompts",
            "Refusing endpoints that retain prompts",
        ),
        "allow_publication": (
            "Allowing endpoints that may publish prompts",
            "Refusing endpoints that may publish prompts",
        ),
        "zdr_only": (
            "Using zero-data-retention endpoints only",
            "Allowing endpoints that keep data (zero-data-retention only turned off)",
        ),
        "in_region_only": (
            f"Keeping your requests in {region}",
            f"Letting your requests go to endpoints outside {region}",
        ),
    }
    on, off = actions[choice]
    return on if value else off


def switched(policy: Mapping[str, bool], choice: str) -> dict[str, bool]:
    """`policy` with `choice` switched, everything else as it is."""
    return {**policy, choice: not policy[choice]}


def _order(endpoint: RouteEndpoint) -> tuple:
    return (endpoint.input_price, endpoint.output_price, endpoint.provider)


def _price(endpoint: RouteEndpoint) -> tuple[Decimal, Decimal]:
    return (endpoint.input_price, endpoint.output_price)


def _cheapest(endpoints: Iterable[RouteEndpoint]) -> RouteEndpoint | None:
    return min(endpoints, key=_order, default=None)


def _dollars(price: Decimal) -> str:
    return "no charge" if price == 0 else f"${format_price(price)}"


@dataclass(frozen=True)
class ModelChoiceEffect:
    """What switching one choice would change for one model."""

    choice: str
    # The value the choice would be switched to.
    to: bool
    opened: int
    closed: int
    # The cheapest endpoint the choices allow now, and after the switch (None: none).
    before: RouteEndpoint | None
    after: RouteEndpoint | None

    @property
    def action(self) -> str:
        return choice_action(self.choice, self.to)

    @property
    def changes_anything(self) -> bool:
        return bool(self.opened or self.closed)

    def _price_change(self) -> tuple[str, Decimal, Decimal]:
        """Which price tells the two cheapest apart ("prompt" or "completion"), and the
        price now and after."""
        before, after = self.before, self.after
        if before.input_price != after.input_price:
            return "prompt", before.input_price, after.input_price
        return "completion", before.output_price, after.output_price

    @property
    def percent(self) -> int | None:
        """How much cheaper (negative: dearer) the model's cheapest allowed endpoint
        would be, in whole percent of today's price; None when there is no price to
        compare (no endpoint before or after, the same price, or free today)."""
        if self.before is None or self.after is None or _price(self.before) == _price(self.after):
            return None
        _, now, then = self._price_change()
        if now == 0:
            return None
        share = (now - then) * 100 / now
        return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def sentence(self) -> str:
        """The effect in a sentence, beginning with the action."""
        n_open, n_closed = self.opened, self.closed
        if not self.changes_anything:
            return f"{self.action} would change nothing for this model."
        if self.before is None:
            return (
                f"{self.action} would make this model available: "
                f"{self.after.provider} at {self._prices(self.after)}."
            )
        if self.after is None:
            return (
                f"{self.action} would close every endpoint of this model you can use now "
                f"({_count(n_closed, 'endpoint')}): it would no longer be available to you."
            )
        if _price(self.before) == _price(self.after):
            if n_open:
                return (
                    f"{self.action} would open {_count(n_open, 'more endpoint')}, none "
                    f"cheaper than {self.before.provider} at {self._prices(self.before)}."
                )
            return (
                f"{self.action} would close {_count(n_closed, 'endpoint')}; the cheapest "
                f"price, {self._prices(self.after)}, stays."
            )
        which, now, then = self._price_change()
        compared = (
            f"{self.after.provider} at {_dollars(then)} instead of {self.before.provider} at "
            f"{_dollars(now)} per million {which} tokens"
        )
        percent = self.percent
        if then < now:
            how = f"{percent} % cheaper" if percent is not None else "cheaper"
        else:
            how = f"{-percent} % dearer" if percent is not None else "dearer"
        return f"{self.action} would make this model {how} ({compared})."

    @staticmethod
    def _prices(endpoint: RouteEndpoint) -> str:
        if endpoint.is_free:
            return "no charge"
        return (
            f"{_dollars(endpoint.input_price)} per million prompt tokens and "
            f"{_dollars(endpoint.output_price)} per million completion tokens"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def model_price_of_privacy(
    endpoints: Iterable[RouteEndpoint], policy: Mapping[str, bool]
) -> list[ModelChoiceEffect]:
    """For each choice, what switching it from `policy` would change for the model whose
    endpoints these are. No query: the caller has the endpoints."""
    endpoints = list(endpoints)
    allowed_now = [endpoint_allowed(endpoint, policy) for endpoint in endpoints]
    before = _cheapest(e for e, ok in zip(endpoints, allowed_now, strict=True) if ok)
    effects = []
    for choice in CHOICES:
        other = switched(policy, choice)
        allowed_then = [endpoint_allowed(endpoint, other) for endpoint in endpoints]
        pairs = list(zip(allowed_now, allowed_then, strict=True))
        effects.append(
            ModelChoiceEffect(
                choice=choice,
                to=other[choice],
                opened=sum(1 for now, then in pairs if then and not now),
                closed=sum(1 for now, then in pairs if now and not then),
                before=before,
                after=_cheapest(e for e, ok in zip(endpoints, allowed_then, strict=True) if ok),
            )
        )
    return effects


def route_endpoint_of(endpoint: Endpoint) -> RouteEndpoint:
    """A catalog endpoint (its provider loaded) as the routes see it."""
    return RouteEndpoint(
        provider=endpoint.provider.name,
        input_price=endpoint.input_price,
        output_price=endpoint.output_price,
        trains_on_prompts=endpoint.trains_on_prompts,
        retains_prompts=endpoint.retains_prompts,
        retention_days=endpoint.retention_days,
        publishes_prompts=endpoint.publishes_prompts,
        region=endpoint.region,
    )


@dataclass(frozen=True)
class CatalogChoiceEffect:
    """What switching one choice would change across the whole catalog."""

    choice: str
    to: bool
    endpoints_opened: int
    endpoints_closed: int
    # Models with no endpoint the choices allow now that would have one, and the reverse.
    models_opened: int
    models_closed: int
    # Models usable before and after whose cheapest allowed endpoint would cost less, or
    # more.
    models_cheaper: int
    models_dearer: int

    @property
    def action(self) -> str:
        return choice_action(self.choice, self.to)

    @property
    def sentence(self) -> str:
        parts = []
        if self.endpoints_opened:
            opened = f"would open {_count(self.endpoints_opened, 'endpoint')}"
            if self.models_opened:
                opened += (
                    f" (making available {_count(self.models_opened, 'model')} "
                    "that you cannot use now)"
                )
            parts.append(opened)
        if self.endpoints_closed:
            closed = f"would close {_count(self.endpoints_closed, 'endpoint')}"
            if self.models_closed:
                closed += (
                    f" (leaving {_count(self.models_closed, 'model')} with no endpoint you can use)"
                )
            parts.append(closed)
        if not parts:
            return f"{self.action} would change nothing in the catalog today."
        prices = []
        if self.models_cheaper:
            prices.append(f"{_count(self.models_cheaper, 'model')} cheaper")
        if self.models_dearer:
            prices.append(f"{_count(self.models_dearer, 'model')} dearer")
        tail = f", and make {' and '.join(prices)}" if prices else ""
        return f"{self.action} {' and '.join(parts)}{tail}."


# The fields the catalog-wide answer reads of each endpoint; RouteEndpoint's order.
_ENDPOINT_FIELDS = (
    "provider__name",
    "input_price",
    "output_price",
    "trains_on_prompts",
    "retains_prompts",
    "retention_days",
    "publishes_prompts",
    "region",
)


def catalog_price_of_privacy(policy: Mapping[str, bool]) -> list[CatalogChoiceEffect]:
    """For each choice, how many endpoints and models of the live catalog switching it
    from `policy` would open or close, and how many models it would make cheaper or
    dearer. One query whatever the catalog's size (every endpoint with its provider's
    name, nothing else); the rest is arithmetic on those rows."""
    by_model: dict[int, list[RouteEndpoint]] = {}
    rows = Endpoint.objects.order_by().values_list("model_id", *_ENDPOINT_FIELDS)
    for model_id, *fields in rows:
        by_model.setdefault(model_id, []).append(RouteEndpoint(*fields))
    totals = {choice: dict.fromkeys(_TOTALS, 0) for choice in CHOICES}
    for endpoints in by_model.values():
        for effect in model_price_of_privacy(endpoints, policy):
            total = totals[effect.choice]
            total["endpoints_opened"] += effect.opened
            total["endpoints_closed"] += effect.closed
            if effect.before is None and effect.after is not None:
                total["models_opened"] += 1
            elif effect.before is not None and effect.after is None:
                total["models_closed"] += 1
            elif effect.before is not None and _price(effect.after) != _price(effect.before):
                cheaper = _price(effect.after) < _price(effect.before)
                total["models_cheaper" if cheaper else "models_dearer"] += 1
    return [
        CatalogChoiceEffect(choice=choice, to=not policy[choice], **totals[choice])
        for choice in CHOICES
    ]


_TOTALS = (
    "endpoints_opened",
    "endpoints_closed",
    "models_opened",
    "models_closed",
    "models_cheaper",
    "models_dearer",
)
