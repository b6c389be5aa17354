"""Benchmark `decisions`: gateway decisions/s versus a trivial JSON view on the same
gunicorn, 32 concurrent clients (wrk), plus the decision's p99 latency.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.decisions
"""

from __future__ import annotations

import uuid

from bench.harness import gunicorn, report, setup_django, wrk

SECONDS = 10
CONNECTIONS = 32


def main() -> None:
    setup_django()
    from accounts.actions import do_create_api_key
    from accounts.models import User

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex}@bench.invalid")
    try:
        _, raw_key = do_create_api_key(user=user, acting_user=user, name="bench")
        with gunicorn() as base:
            body = {"api_key": raw_key}
            # Warm both paths (connections, imports) before measuring.
            wrk(base + "/bench/trivial", body, connections=CONNECTIONS, seconds=2)
            wrk(base + "/internal/v1/decisions", body, connections=CONNECTIONS, seconds=2)
            trivial = wrk(base + "/bench/trivial", body, connections=CONNECTIONS, seconds=SECONDS)
            decision = wrk(
                base + "/internal/v1/decisions", body, connections=CONNECTIONS, seconds=SECONDS
            )
        if decision["non_2xx"]:
            raise SystemExit(f"decisions answered {decision['non_2xx']} non-2xx responses")
        print(f"trivial view: {trivial}")
        print(f"decisions:    {decision}")
        report(
            "decisions",
            decision["rps"],
            trivial["rps"],
            "req/s",
            p99_ms=decision["p99_ms"],
            baseline_p99_ms=trivial["p99_ms"],
        )
    finally:
        user.api_keys.all().delete()
        user.delete()


if __name__ == "__main__":
    main()
