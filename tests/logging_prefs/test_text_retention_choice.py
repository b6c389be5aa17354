"""A person chooses how long their stored text is kept (1 day up to
PORTAL_PROMPT_RETENTION_DAYS), on /account/privacy/: stored on LoggingPreference,
audited, and honoured by the nightly expiry at its next run, in chunks."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from logging_prefs import tasks
from logging_prefs.actions import do_set_text_retention
from logging_prefs.eligibility import effective_retention_days
from logging_prefs.models import Generation, LoggingPreference, PreferenceChange
from logging_prefs.retention import chosen_retention_window, do_expire_text_past_chosen_retention
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationFactory, ingest
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db

PRIVACY_URL = "/account/privacy/"
RETENTION_URL = "/account/privacy/retention/"
STORED = Generation.TextState.STORED
EXPIRED = Generation.TextState.EXPIRED

# The real task, kept before `requeues` replaces the module global.
expire_text_past_chosen_retention = tasks.expire_text_past_chosen_retention


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def chosen_days(user) -> int | None:
    return LoggingPreference.objects.get(user=user).text_retention_days


def page_text(response) -> str:
    """The page's words: inline tags dropped, block tags as spaces."""
    html = re.sub(r"</?(?:strong|a|em|code|time|span)\b[^>]*>", "", response.content.decode())
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def requeues(monkeypatch):
    spy = mock.Mock()
    monkeypatch.setattr(tasks, "expire_text_past_chosen_retention", spy)
    return spy


# --- The page -------------------------------------------------------------------------


def test_the_privacy_page_offers_one_day_up_to_the_portals_period(user_client, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    html = user_client.get(PRIVACY_URL).content.decode()
    options = re.findall(r'<option value="(\d+)"( selected)?>', html)
    assert [int(value) for value, _ in options] == [1, 7, 14, 30]
    assert [value for value, selected in options if selected] == ["30"]
    text = page_text(user_client.get(PRIVACY_URL))
    assert "Keep my stored prompts and completions for" in text
    assert "takes effect at its next run" in text
    assert "Now: 30 days, the longest we keep them." in text


def test_choosing_a_shorter_period_is_stored_audited_and_says_when_it_applies(
    user_client, user, settings
):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    response = user_client.post(RETENTION_URL, {"days": "7"}, follow=True)

    assert response.redirect_chain[-1][0].startswith(PRIVACY_URL)
    assert chosen_days(user) == 7
    change = PreferenceChange.objects.get(user=user, setting="text_retention_days")
    assert (change.old_value, change.new_value, change.actor_is_user) == ("30", "7", True)
    text = page_text(response)
    assert "now kept 7 days" in text
    assert "deleted at the next nightly clean-up" in text
    assert "Now: 7 days." in text
    # The history names the setting and both periods.
    assert "Keep my stored prompts and completions for 30 days → 7 days You" in text


def test_the_same_period_again_changes_nothing_and_records_nothing(user_client, user, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    response = user_client.post(RETENTION_URL, {"days": "30"}, follow=True)
    assert "Nothing changed" in page_text(response)
    # An account that never chose keeps following the portal's period.
    assert chosen_days(user) is None
    assert not PreferenceChange.objects.filter(user=user).exists()


@pytest.mark.parametrize("value", ["0", "31", "-1", "seven", "", "7.5"])
def test_a_period_outside_one_day_to_the_portals_is_refused(user_client, user, settings, value):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    response = user_client.post(RETENTION_URL, {"days": value})
    assert response.status_code == 200
    assert response.context["retention_form"].errors["days"]
    assert 'aria-invalid="true"' in response.content.decode()
    assert chosen_days(user) is None
    assert not PreferenceChange.objects.filter(user=user).exists()


def test_the_choice_needs_sign_in_a_post_and_a_csrf_token(user):
    anonymous = Client()
    response = anonymous.post(RETENTION_URL, {"days": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    browser = signed_in(Client(enforce_csrf_checks=True), user)
    assert browser.post(RETENTION_URL, {"days": "1"}).status_code == 403
    assert browser.get(RETENTION_URL).status_code == 405
    assert chosen_days(user) is None


def test_the_action_refuses_a_period_out_of_range(user, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    for days in (0, 31, True, "7"):
        with pytest.raises(ValueError):
            do_set_text_retention(user=user, acting_user=user, days=days)
    assert chosen_days(user) is None


def test_the_database_refuses_a_period_under_a_day(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        LoggingPreference.objects.filter(user=user).update(text_retention_days=0)
    assert chosen_days(user) is None


def test_a_choice_longer_than_a_lowered_portal_period_counts_as_the_portals(user, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    do_set_text_retention(user=user, acting_user=user, days=20)
    settings.PORTAL_PROMPT_RETENTION_DAYS = 10
    assert LoggingPreference.objects.get(user=user).retention_days == 10
    assert effective_retention_days(None) == 10
    assert effective_retention_days(3) == 3


# --- The nightly expiry ---------------------------------------------------------------


def _run_chain(requeues, django_capture_on_commit_callbacks, limit: int = 50) -> list[int]:
    """The task's chain to its end, each re-queue run by hand; the expired count per run."""
    expired_per_run, args = [], ()
    for _ in range(limit):
        requeues.reset_mock()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            expired_per_run.append(expire_text_past_chosen_retention.run(*args))
        if not callbacks:
            return expired_per_run
        args = requeues.delay.call_args.args
    raise AssertionError("the chain did not end")


def test_expiry_honours_each_persons_period_and_leaves_others_alone(
    settings, requeues, django_capture_on_commit_callbacks
):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    brief, default = UserFactory(), UserFactory()
    do_set_text_retention(user=brief, acting_user=brief, days=1)
    brief_key, default_key = ApiKeyFactory(user=brief), ApiKeyFactory(user=default)
    brief_old = GenerationFactory(api_key=brief_key, created_at=days_ago(2), prompt="brief old")
    brief_new = GenerationFactory(api_key=brief_key, created_at=days_ago(0.5), prompt="brief new")
    default_old = GenerationFactory(api_key=default_key, created_at=days_ago(2), prompt="kept")

    _run_chain(requeues, django_capture_on_commit_callbacks)

    for generation in (brief_old, brief_new, default_old):
        generation.refresh_from_db()
    assert brief_old.text_state == EXPIRED and brief_old.prompt is None
    assert brief_old.cost_usd and brief_old.model  # the billing metadata stays
    assert (brief_new.text_state, brief_new.prompt) == (STORED, "brief new")
    assert (default_old.text_state, default_old.prompt) == (STORED, "kept")


def test_a_shortened_period_takes_effect_at_the_next_run(
    user, settings, requeues, django_capture_on_commit_callbacks
):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    api_key = ApiKeyFactory(user=user)
    generation = GenerationFactory(api_key=api_key, created_at=days_ago(10))
    do_set_text_retention(user=user, acting_user=user, days=7)

    generation.refresh_from_db()
    assert generation.text_state == STORED, "nothing is deleted before the nightly run"
    _run_chain(requeues, django_capture_on_commit_callbacks)
    generation.refresh_from_db()
    assert generation.text_state == EXPIRED


def test_expiry_walks_the_window_in_chunks_and_ends(
    settings, requeues, monkeypatch, django_capture_on_commit_callbacks
):
    """Each statement looks at CHOSEN_EXPIRY_SCAN_SIZE stored rows at most, whoever owns
    them, and the chain ends once the walk passes the window: no loop over people."""
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    monkeypatch.setattr(tasks, "CHOSEN_EXPIRY_SCAN_SIZE", 2)
    brief, default = UserFactory(), UserFactory()
    do_set_text_retention(user=brief, acting_user=brief, days=3)
    step = dt.timedelta(hours=6)
    # Interleaved in time: 5 rows of each account between 5 and 4 days ago.
    brief_rows = ingest(ApiKeyFactory(user=brief), 5, newest=days_ago(4), step=step)
    default_rows = ingest(ApiKeyFactory(user=default), 5, newest=days_ago(4) - step / 2, step=step)

    expired_per_run = _run_chain(requeues, django_capture_on_commit_callbacks)

    assert sum(expired_per_run) == 5
    assert all(n <= 2 for n in expired_per_run)
    # 10 rows in the window, 2 a statement: 5 chunks, and one more that finds the end.
    assert len(expired_per_run) in (5, 6)
    states = dict(Generation.objects.values_list("id", "text_state"))
    assert {states[g.id] for g in brief_rows} == {EXPIRED}
    assert {states[g.id] for g in default_rows} == {STORED}
    # The re-queue carried the first run's "now" and the walk's position.
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_text_past_chosen_retention.run() == 0  # idempotent


def test_with_nobody_choosing_a_shorter_period_the_walk_looks_at_nothing(
    user, settings, django_assert_max_num_queries
):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    GenerationFactory(api_key=ApiKeyFactory(user=user), created_at=days_ago(10))
    now = timezone.now()
    assert chosen_retention_window(now) is None
    with django_assert_max_num_queries(1):
        chunk = do_expire_text_past_chosen_retention(now=now, after=None, batch_size=100)
    assert (chunk.expired, chunk.position) == (0, None)
    # A choice of the portal's own period opens no window either.
    do_set_text_retention(user=user, acting_user=user, days=7)
    do_set_text_retention(user=user, acting_user=user, days=30)
    assert chosen_retention_window(now) is None
