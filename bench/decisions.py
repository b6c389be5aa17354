"""Benchmark `decisions`: gateway decisions/s versus a trivial JSON view on the same
gunicorn, 32 concurrent clients (wrk), plus the decision's p99 latency.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.decisions
"""

from __future__ import annotations

import uuid

from bench.harness import gunicorn, report_against_trivial_view, setup_django


def main() -> None:
    setup_django()
    from accounts.actions import do_create_api_key
    from accounts.models import User

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex}@bench.invalid")
    try:
        _, raw_key = do_create_api_key(user=user, acting_user=user, name="bench")
        with gunicorn() as base:
            report_against_trivial_view(
                "decisions", base, "/internal/v1/decisions", {"api_key": raw_key}
            )
    finally:
        user.api_keys.all().delete()
        user.delete()


if __name__ == "__main__":
    main()
