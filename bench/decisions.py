"""Benchmark `decisions`: gateway decisions/s versus a trivial JSON view on the same
gunicorn, 32 concurrent clients (wrk), plus the decision's p99 latency.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.decisions
"""

from __future__ import annotations

import uuid

from bench.harness import gunicorn, report, setup_django, wrk

# Both sides alternate in ROUNDS rounds of SECONDS each, so a drift in the machine's
# speed during the run (a shared 2-core machine drifts by 20%) weighs on both alike.
ROUNDS = 3
SECONDS = 5
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
            urls = {"trivial": base + "/bench/trivial", "decision": base + "/internal/v1/decisions"}
            # Warm both paths (connections, imports) before measuring.
            for url in urls.values():
                wrk(url, body, connections=CONNECTIONS, seconds=2)
            rounds = [
                {
                    side: wrk(url, body, connections=CONNECTIONS, seconds=SECONDS)
                    for side, url in urls.items()
                }
                for _ in range(ROUNDS)
            ]
        trivial, decision = (_combine([r[side] for r in rounds]) for side in urls)
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
            # Each round's, to show whether one slow round made the p99.
            rounds_p99_ms=[r["decision"]["p99_ms"] for r in rounds],
            baseline_rounds_p99_ms=[r["trivial"]["p99_ms"] for r in rounds],
        )
    finally:
        user.api_keys.all().delete()
        user.delete()


def _combine(results: list[dict]) -> dict:
    """Rounds of equal length: the mean rate, the worst round's p99, every error."""
    return {
        "rps": sum(r["rps"] for r in results) / len(results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "non_2xx": sum(r["non_2xx"] for r in results),
        "socket_errors": "; ".join(r["socket_errors"] for r in results if r["socket_errors"]),
    }


if __name__ == "__main__":
    main()
