"""Benchmark `routing`: routing answers/s (POST /internal/v1/routes) versus a trivial
JSON view on the same gunicorn, 32 concurrent clients (wrk), plus the routes' p99.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.routing

The model has ROUTED_ENDPOINTS endpoints, all allowed to the account, so each answer
lists them all: the account's decision, then the model's endpoints (two queries).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from bench.harness import gunicorn, report_against_trivial_view, setup_django

ROUTED_ENDPOINTS = 8


def main() -> None:
    setup_django()
    from django.conf import settings

    from accounts.actions import do_create_api_key
    from accounts.models import User
    from catalog.models import Endpoint, LanguageModel, Provider

    run = uuid.uuid4().hex[:12]
    email = f"bench-{run}@bench.invalid"
    try:
        user = User.objects.create_user(email)
        model = LanguageModel.objects.create(author=f"bench-{run}", slug="model", name="bench")
        for n in range(ROUTED_ENDPOINTS):
            Endpoint.objects.create(
                model=model,
                provider=Provider.objects.create(slug=f"bench-{run}-{n}", name=f"Provider {n}"),
                input_price=Decimal(n + 1),
                output_price=Decimal(2 * (n + 1)),
                region=settings.PORTAL_DATA_REGION,
            )
        _, raw_key = do_create_api_key(user=user, acting_user=user, name="bench")
        with gunicorn() as base:
            body = {"api_key": raw_key, "model": model.model_id}
            report_against_trivial_view("routing", base, "/internal/v1/routes", body)
    finally:
        # Whatever was made before a failure: the model (its endpoints with it), then
        # the providers, then the account.
        LanguageModel.objects.filter(author=f"bench-{run}").delete()
        Provider.objects.filter(slug__startswith=f"bench-{run}-").delete()
        for user in User.objects.filter(email=email):
            user.api_keys.all().delete()
            user.delete()


if __name__ == "__main__":
    main()
