"""The model catalog: models, the providers that serve them, and each endpoint's price
and data policy, which the public model pages show (the policy: "To view the data
policy for a specific model provider, please visit the model page").

Nothing here is about a person: the catalog is public reference data, edited by staff
in the admin.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from portal.regions import REGION_CHOICES, REGIONS


class Provider(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    policy_url = models.URLField(
        blank=True, help_text="The provider's own privacy or data policy, linked from model pages."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LanguageModel(models.Model):
    """A model as the gateway names it: "author/slug" (openai/gpt-4o,
    meta-llama/llama-3.1-8b-instruct:free)."""

    author = models.SlugField(max_length=64)
    # A slug may hold dots and colons, never a slash (catalog.public_urls).
    slug = models.CharField(max_length=100)
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["author", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["author", "slug"], name="catalog_model_author_slug"),
            models.CheckConstraint(
                condition=~Q(slug__contains="/") & ~Q(slug=""), name="catalog_model_slug_no_slash"
            ),
        ]

    def __str__(self) -> str:
        return self.model_id

    @property
    def model_id(self) -> str:
        return f"{self.author}/{self.slug}"

    def clean(self) -> None:
        if "/" in self.slug:
            raise ValidationError({"slug": "A model's slug cannot contain a slash."})


# Prices in US dollars per million tokens.
PRICE_FIELD = {
    "max_digits": 12,
    "decimal_places": 6,
    "validators": [MinValueValidator(Decimal(0))],
}


class EndpointTerms:
    """What an endpoint's prices and data-policy fields imply (free, zero data
    retention); shared by the model and the routes endpoint's rows
    (catalog.selectors.RouteEndpoint). Not the gateway's `DataPolicy`, the routes
    answer's schema."""

    input_price: Decimal
    output_price: Decimal
    trains_on_prompts: bool
    retains_prompts: bool
    publishes_prompts: bool
    region: str

    @property
    def is_free(self) -> bool:
        return self.input_price == 0 and self.output_price == 0

    @property
    def zero_data_retention(self) -> bool:
        """Keeps nothing once the request is answered: no training, retention or
        publication."""
        return not (self.trains_on_prompts or self.retains_prompts or self.publishes_prompts)


class Endpoint(EndpointTerms, models.Model):
    """One provider serving one model: its price, what it does with prompts and where
    it runs."""

    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="endpoints")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="endpoints")
    input_price = models.DecimalField(help_text="USD per million prompt tokens.", **PRICE_FIELD)
    output_price = models.DecimalField(
        help_text="USD per million completion tokens.", **PRICE_FIELD
    )
    trains_on_prompts = models.BooleanField(
        default=False, help_text="The provider may use prompts to train or improve its models."
    )
    retains_prompts = models.BooleanField(
        default=False,
        help_text="The provider keeps prompts after answering (e.g. for abuse review).",
    )
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long prompts are kept, if the provider says."
    )
    publishes_prompts = models.BooleanField(
        default=False, help_text="The provider may publish prompts (e.g. in a research data set)."
    )
    # No default: where an endpoint runs is a fact staff must state, and a wrong guess
    # would let "Keep my requests in <region>" send prompts abroad.
    region = models.CharField(
        max_length=8,
        choices=REGION_CHOICES,
        help_text="Where the endpoint processes prompts (the provider's serving region).",
    )

    class Meta:
        ordering = ["model", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["model", "provider"], name="catalog_endpoint_unique"),
            models.CheckConstraint(
                condition=Q(input_price__gte=0) & Q(output_price__gte=0),
                name="catalog_endpoint_prices_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(retention_days__isnull=True) | Q(retains_prompts=True),
                name="catalog_endpoint_retention_days_only_if_retained",
            ),
            # A row written outside the admin (a script, a fixture) cannot leave the
            # region empty: an endpoint of unknown region would be routed as if abroad.
            models.CheckConstraint(
                condition=Q(region__in=list(REGIONS)), name="catalog_endpoint_region_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} by {self.provider}"

    def clean(self) -> None:
        if self.retention_days is not None and not self.retains_prompts:
            raise ValidationError(
                {"retention_days": "Only an endpoint that retains prompts has a retention period."}
            )
