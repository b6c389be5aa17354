"""Steps and sums of the privacy tests: the account pages' sign-in and
re-authentication, the billing ledger's totals, every table as text, and a stand-in
for the broker that runs the purge task in-process."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.models import User
from logging_prefs.models import BillingDailyTotal
from privacy import export, tasks
from tests.factories.accounts import DEFAULT_PASSWORD

DATA_URL = "/account/data/"
MANAGE_URL = "/account/manage/"
DELETED_URL = "/account/deleted/"
REAUTH_URL = "/accounts/reauthenticate/"

# What billing needs of a generation: its purge adds these into the day's totals in the
# ledger (gateway_id only to find the rows before the purge).
BILLING_FIELDS = (
    "gateway_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "created_at",
)


def expected_totals(rows, plus: dict | None = None) -> dict:
    """The ledger's totals after adding generations `rows` (tuples of BILLING_FIELDS)
    to `plus` (a ledger_totals() result): (UTC day, model, provider) -> (generations,
    prompt tokens, completion tokens, cost)."""
    totals = {key: list(value) for key, value in (plus or {}).items()}
    for _, model, provider, prompt, completion, cost, created_at in rows:
        key = (created_at.astimezone(dt.UTC).date(), model, provider)
        total = totals.setdefault(key, [0, 0, 0, Decimal(0)])
        for n, value in enumerate((1, prompt, completion, cost)):
            total[n] += value
    return {key: tuple(value) for key, value in totals.items()}


def ledger_totals() -> dict:
    """Every row of the anonymous billing ledger, in expected_totals' shape."""
    return {
        (row.day, row.model, row.provider): (
            row.generations,
            row.prompt_tokens,
            row.completion_tokens,
            row.cost_usd,
        )
        for row in BillingDailyTotal.objects.all()
    }


BILLING_SUMS = {
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "cost_usd": Sum("cost_usd"),
}


def sign_in(user: User) -> Client:
    """A browser session through the real login view (allauth records the session)."""
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def reauthenticate(client: Client, next_url: str):
    return client.post(f"{REAUTH_URL}?next={next_url}", {"password": DEFAULT_PASSWORD})


def signed_in_and_reauthenticated(user: User, next_url: str = DATA_URL) -> Client:
    client = sign_in(user)
    response = reauthenticate(client, next_url)
    assert response.status_code == 302
    assert response["Location"] == next_url
    return client


def asks_for_reauthentication(response, next_url: str) -> bool:
    return (
        response.status_code == 302
        and response["Location"] == f"{REAUTH_URL}?{urlencode({'next': next_url})}"
    )


def sign_in_as_browser(user: User) -> Client:
    """As sign_in, from one address and user agent, the account hub opened once: the
    session allauth records holds what a browser's would (the erasure tests look for
    it)."""
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="pytest-browser")
    response = client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.content[:500]
    assert client.get("/account/").status_code == 200
    return client


def every_table_as_text() -> str:
    """Every row of every table in the database, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(f"{table}: {row!r}" for row in cursor.fetchall())
    return "\n".join(chunks)


@dataclass
class TaskQueue:
    """Stands in for the broker: what the actions and the task publish is kept here,
    and `drain` delivers it to the real task function, one message at a time."""

    purges: list[dict] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)
    delivered: int = 0

    def drain(self, capture: Callable, limit: int = 10_000) -> None:
        while self.purges:
            message = self.purges.pop(0)
            self.deliver(message, capture)
            assert self.delivered < limit, "the purge never finished"
        while self.notices:
            with capture(execute=True):
                tasks.send_deletion_notice.run(self.notices.pop(0))

    def deliver(self, message: dict, capture: Callable) -> bool:
        self.delivered += 1
        with capture(execute=True):
            return tasks.purge_deletion_request.run(
                message["request_id"], claim=message["claim"], chunk=message["chunk"]
            )


def exported(user) -> dict:
    body = b"".join(
        export.data_export(user_id=user.pk, account=str(user.public_id), exported_at=timezone.now())
    )
    return json.loads(body)
