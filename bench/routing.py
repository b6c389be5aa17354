"""Benchmark `routing`: routing answers/s (POST /internal/v1/routes) versus a trivial
JSON view on the same gunicorn, 32 concurrent clients (wrk), plus the routes' p99.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.routing

The model has ROUTED_ENDPOINTS endpoints, all allowed to the account, so each answer
lists them all: the account's decision, then the model's endpoints (two queries).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from bench.decisions import CONNECTIONS, ROUNDS, SECONDS, _combine
from bench.harness import gunicorn, report, setup_django, wrk

ROUTED_ENDPOINTS = 8


def main() -> None:
    setup_django()
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
            )
        _, raw_key = do_create_api_key(user=user, acting_user=user, name="bench")
        with gunicorn() as base:
            body = {"api_key": raw_key, "model": model.model_id}
            urls = {"trivial": base + "/bench/trivial", "routes": base + "/internal/v1/routes"}
            for url in urls.values():
                wrk(url, body, connections=CONNECTIONS, seconds=2)
            rounds = [
                {
                    side: wrk(url, body, connections=CONNECTIONS, seconds=SECONDS)
                    for side, url in urls.items()
                }
                for _ in range(ROUNDS)
            ]
        trivial, routes = (_combine([r[side] for r in rounds]) for side in urls)
        if routes["non_2xx"]:
            raise SystemExit(f"routes answered {routes['non_2xx']} non-2xx responses")
        print(f"trivial view: {trivial}")
        print(f"routes:       {routes}")
        report(
            "routing",
            routes["rps"],
            trivial["rps"],
            "req/s",
            p99_ms=routes["p99_ms"],
            baseline_p99_ms=trivial["p99_ms"],
            rounds_p99_ms=[r["routes"]["p99_ms"] for r in rounds],
            baseline_rounds_p99_ms=[r["trivial"]["p99_ms"] for r in rounds],
        )
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
