"""One privacy rule, one answer (logging_prefs/eligibility.py): for every combination of
the account's logging setting, the key's (follows the account or never logs), the key's
state (active or revoked) and the account's (active, terminated, closed for deletion),
each consumer answers as the rule says:

- the decision's `log_prompts` (a refused key logs nothing: 401 and 403 count as no);
- ingestion, storing a record's text or not;
- categorisation, reading a stored prompt or not (and never one past retention: the
  portal's period, or the shorter one the owner chose);
- expiry, removing text past retention and keeping younger text, whatever the owner's
  other settings (permission withdrawn stops use, not storage), honouring the period
  the owner chose.

Each combination's text is stored first, while everything allows it, and the
combination is then set through the real actions. Closing an account revokes its keys;
the rows with the key still active after a closing are what an account deactivated
without its keys revoked (the admin's "active" box) looks like.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.actions import do_create_api_key, do_revoke_api_key
from accounts.models import ApiKey
from logging_prefs import categories
from logging_prefs.actions import (
    do_ingest_generations,
    do_set_api_key_logging,
    do_set_logging_preferences,
    do_set_text_retention,
)
from logging_prefs.categories import do_categorise_stored_prompts
from logging_prefs.models import Generation
from logging_prefs.retention import (
    do_expire_stored_text,
    do_expire_text_past_chosen_retention,
    retention_cutoff,
)
from privacy.deletion.account import do_delete_account
from privacy.termination.terminate import do_terminate_account
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

ACCOUNT_STATES = ("active", "terminated", "deleted")
# The retention period the owner chose: none (the portal's), or a single day.
RETENTION = ("portal", "one-day")
COMBINATIONS = list(
    itertools.product((True, False), ("account", "never"), (True, False), ACCOUNT_STATES, RETENTION)
)


def rule(account_logs: bool, key_logging: str, key_active: bool, account: str, *_) -> bool:
    """The rule, as the module docstring of logging_prefs.eligibility states it, for text
    younger than its owner's retention period."""
    return account_logs and key_logging == "account" and key_active and account == "active"


def within_retention(retention: str, age: dt.timedelta) -> bool:
    """Whether text of this age is inside its owner's period (module docstring)."""
    days = 1 if retention == "one-day" else settings.PORTAL_PROMPT_RETENTION_DAYS
    return age < dt.timedelta(days=days)


def _name(combination) -> str:
    account_logs, key_logging, key_active, account, retention = combination
    return "-".join(
        [
            "logs" if account_logs else "opted-out",
            "follows" if key_logging == "account" else "never-log",
            "key-active" if key_active else "key-revoked",
            account,
            f"keeps-{retention}",
        ]
    )


_ids = itertools.count()


def _record(api_key: ApiKey, created_at: dt.datetime) -> dict:
    return {
        "id": f"elig-{next(_ids)}-{api_key.pk}",
        "key_id": api_key.pk,
        "model": "acme/one",
        "provider": "Acme",
        "prompt": "Translate 'good morning' into French.",
        "completion": "Bonjour.",
        "prompt_tokens": 8,
        "completion_tokens": 2,
        "cost_usd": "0.0001",
        "created_at": created_at.isoformat(),
    }


def _ingest(record: dict) -> Generation:
    result = do_ingest_generations(records=[record])
    assert result.stored == 1, result.as_dict()
    return Generation.objects.get(gateway_id=record["id"])


MIDDLE_AGE = dt.timedelta(days=2)


def _set_up(combination, support) -> tuple[ApiKey, str, Generation, Generation, Generation]:
    """A key whose text was stored (a young, a two-day-old and an old record) while
    everything allowed it, then put in the combination's state. Returns the key, its
    raw value and the three stored generations."""
    account_logs, key_logging, key_active, account, retention = combination
    user = UserFactory()
    api_key, raw = do_create_api_key(user=user, acting_user=user, name="app", logging="account")
    now = timezone.now()
    young = _ingest(_record(api_key, now - dt.timedelta(minutes=5)))
    middle = _ingest(_record(api_key, now - MIDDLE_AGE))
    old_enough = now - dt.timedelta(days=settings.PORTAL_PROMPT_RETENTION_DAYS + 1)
    old = _ingest(_record(api_key, old_enough))
    assert young.text_state == middle.text_state == old.text_state == Generation.TextState.STORED

    if retention == "one-day":
        do_set_text_retention(user=user, acting_user=user, days=1)
    if not account_logs:
        do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": False})
    if key_logging == "never":
        do_set_api_key_logging(api_key=api_key, acting_user=user, logging="never")
    if not key_active:
        do_revoke_api_key(api_key=api_key, acting_user=user)
    if account == "terminated":
        do_terminate_account(
            user=user,
            acting_user=support,
            reason_category="terms_breach",
            reason="resold keys",
            notice_text="Your account is closed.",
        )
    elif account == "deleted":
        # Closed at once; the purge comes later (its task runs after commit, not here).
        do_delete_account(user=user, acting_user=user)
    if account != "active" and key_active:
        ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=None)
    api_key.refresh_from_db()
    return api_key, raw, young, middle, old


def _expire_all() -> None:
    """Both nightly expiry runs, to the end: the portal's period, then the chosen ones."""
    do_expire_stored_text(older_than=retention_cutoff(), batch_size=100)
    now, after = timezone.now(), None
    for _ in range(100):
        chunk = do_expire_text_past_chosen_retention(now=now, after=after, batch_size=100)
        if chunk.position is None:
            return
        after = chunk.position
    raise AssertionError("the chosen-retention walk did not end")


def consumers_answers(combination, support) -> dict[str, bool]:
    """What each consumer answers for one combination."""
    retention = combination[-1]
    api_key, raw, young, middle, old = _set_up(combination, support)
    answers = {}

    response = Client().post(
        "/internal/v1/decisions",
        json.dumps({"api_key": raw}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {settings.PORTAL_GATEWAY_TOKEN}",
    )
    assert response.status_code in (200, 401, 403), response.content
    answers["decision"] = response.status_code == 200 and response.json()["log_prompts"]

    late = _ingest(_record(api_key, timezone.now() - dt.timedelta(minutes=1)))
    answers["ingestion"] = late.text_state == Generation.TextState.STORED

    do_categorise_stored_prompts(batch_size=100)
    for generation in (young, middle, old):
        generation.refresh_from_db()
    answers["categorisation"] = young.categorised
    assert not old.categorised, "text past retention is never used"
    # Text past the owner's chosen period is never used either; inside it, as the rule.
    if within_retention(retention, MIDDLE_AGE):
        assert middle.categorised == young.categorised
    else:
        assert not middle.categorised, "text past the owner's chosen period is never used"

    _expire_all()
    for generation in (young, middle, old):
        generation.refresh_from_db()
    # Expiry follows the owner's retention period alone: it answers "kept" for the young
    # text and "removed" for the old, and for the two-day-old text as the owner chose,
    # whatever the rest of the combination.
    assert young.text_state == Generation.TextState.STORED and young.prompt
    assert old.text_state == Generation.TextState.EXPIRED and old.prompt is None
    if within_retention(retention, MIDDLE_AGE):
        assert middle.text_state == Generation.TextState.STORED and middle.prompt
    else:
        assert middle.text_state == Generation.TextState.EXPIRED and middle.prompt is None
    return answers


@pytest.fixture
def support():
    return UserFactory(is_staff=True, is_superuser=True)


def test_the_table_covers_every_combination():
    assert len(COMBINATIONS) == 2 * 2 * 2 * 3 * 2
    # Allowed for one combination of the settings, with either retention period.
    assert sum(rule(*combination) for combination in COMBINATIONS) == 2


@pytest.mark.parametrize("combination", COMBINATIONS, ids=[_name(c) for c in COMBINATIONS])
def test_every_consumer_answers_as_the_rule(combination, support):
    expected = rule(*combination)
    answers = consumers_answers(combination, support)
    assert answers == dict.fromkeys(answers, expected)


def test_the_table_fails_when_one_consumer_forgets_a_condition(support, monkeypatch):
    """Categorisation as it was before the rule was written once: it did not look at
    whether the key was revoked. The table notices."""
    combination = (True, "account", False, "active", "portal")
    assert not rule(*combination)
    forgetful = categories._ELIGIBLE_FROM.replace(
        'AND k."revoked_at" IS NULL', "AND (k.revoked_at IS NULL OR true)"
    )
    assert forgetful != categories._ELIGIBLE_FROM
    monkeypatch.setattr(categories, "_ELIGIBLE_FROM", forgetful)
    answers = consumers_answers(combination, support)
    assert answers["categorisation"] is True
    assert answers != dict.fromkeys(answers, False)


def test_the_table_fails_when_categorisation_forgets_the_owners_period(support, monkeypatch):
    """Categorisation reading text by the portal's period alone, as before a person could
    choose a shorter one: the table notices the two-day-old text it uses."""
    combination = (True, "account", True, "active", "one-day")
    assert rule(*combination)
    forgetful = categories._ELIGIBLE_FROM.replace(
        categories.WITHIN_OWNERS_RETENTION, "(%s IS NOT NULL)"
    )
    assert forgetful != categories._ELIGIBLE_FROM
    monkeypatch.setattr(categories, "_ELIGIBLE_FROM", forgetful)
    with pytest.raises(AssertionError, match="chosen period is never used"):
        consumers_answers(combination, support)
