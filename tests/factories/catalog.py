"""The catalog: providers, models and their endpoints.

The factories write the rows themselves: the catalog has no actions, staff edit it in
the admin (tests/catalog/test_admin.py) and `make demo` loads catalog/demo_data.py.
"""

from __future__ import annotations

from decimal import Decimal

import factory

from catalog.models import Endpoint, LanguageModel, Provider


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Provider {n}")
    slug = factory.LazyAttribute(lambda provider: provider.name.lower().replace(" ", "-"))


class LanguageModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LanguageModel

    author = "acme"
    slug = factory.Sequence(lambda n: f"model-{n}")
    name = factory.LazyAttribute(lambda model: f"Acme {model.slug}")


class EndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Endpoint

    model = factory.SubFactory(LanguageModelFactory)
    provider = factory.SubFactory(ProviderFactory)
    input_price = Decimal("1.00")
    output_price = Decimal("2.00")
