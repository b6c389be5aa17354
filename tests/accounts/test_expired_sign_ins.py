"""Expired sign-in records are deleted daily: sessions past their expiry, the session
list's records of sessions that no longer exist (each an IP address and a browser), and
expired email-confirmation keys. Django and allauth keep them until something does."""

from __future__ import annotations

import datetime as dt

import pytest
from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.usersessions.models import UserSession
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts import sign_in_records, tasks
from accounts.schedules import BEAT_SCHEDULE
from accounts.sign_in_records import do_clear_expired_sign_in_records
from portal.celery import app
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import login

pytestmark = pytest.mark.django_db


def expired_session(user, days_ago: int = 1) -> str:
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() - dt.timedelta(days=days_ago)
    )
    UserSession.objects.create(
        user=user, session_key=store.session_key, ip="203.0.113.7", user_agent="Old browser"
    )
    return store.session_key


def test_expired_sign_in_records_go_and_live_ones_stay(settings):
    user = UserFactory()
    browser = Client()
    login(browser, user.email)
    live_key = browser.session.session_key
    old_keys = {expired_session(user) for _ in range(3)}
    # A record whose session was deleted some other way.
    UserSession.objects.create(user=user, session_key="gone" * 8, ip="198.51.100.1", user_agent="x")
    address = EmailAddress.objects.get(user=user)
    now = timezone.now()
    old = EmailConfirmation.objects.create(email_address=address, key="old" * 10)
    EmailConfirmation.objects.filter(pk=old.pk).update(
        sent=now - dt.timedelta(days=settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS + 1)
    )
    never_sent = EmailConfirmation.objects.create(email_address=address, key="never" * 6)
    EmailConfirmation.objects.filter(pk=never_sent.pk).update(created=now - dt.timedelta(days=30))
    fresh = EmailConfirmation.objects.create(email_address=address, key="new" * 10, sent=now)

    result = do_clear_expired_sign_in_records()

    assert (result.sessions, result.session_records, result.email_confirmations) == (3, 4, 2)
    assert not Session.objects.filter(session_key__in=old_keys).exists()
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [live_key]
    assert list(EmailConfirmation.objects.values_list("pk", flat=True)) == [fresh.pk]
    # The live session still signs the person in.
    assert browser.get("/account/").status_code == 200
    # Nothing more to do the second time.
    again = do_clear_expired_sign_in_records()
    assert (again.sessions, again.session_records, again.email_confirmations) == (0, 0, 0)


def test_many_expired_sessions_go_in_batches(monkeypatch):
    monkeypatch.setattr(sign_in_records, "EXPIRED_BATCH_ROWS", 2)
    user = UserFactory()
    for _ in range(5):
        expired_session(user)
    result = tasks.clear_expired_sign_in_records()
    assert result == {
        "sessions": 5,
        "session_records": 5,
        "email_confirmations": 0,
        "unconfirmed_addresses": 0,
    }
    assert not Session.objects.exists() and not UserSession.objects.exists()


def test_beat_runs_it_daily(settings):
    entry = BEAT_SCHEDULE["clear-expired-sign-in-records"]
    assert entry["task"] == tasks.clear_expired_sign_in_records.name
    assert entry["schedule"] == 60 * 60 * 24
    # The schedule the worker's beat reads (portal/settings.py merges each app's).
    assert settings.CELERY_BEAT_SCHEDULE["clear-expired-sign-in-records"] == entry
    assert app.tasks[entry["task"]].acks_late is True


def test_a_run_queued_under_the_tasks_name_before_it_moved_still_clears():
    """Beat published the clean-up as privacy.tasks.clear_expired_sign_in_records until
    it moved to accounts: a message still queued under that name is run, not dropped."""
    user = UserFactory()
    expired_session(user)
    old_name = app.tasks["privacy.tasks.clear_expired_sign_in_records"]

    result = old_name()

    assert result["sessions"] == 1 and result["session_records"] == 1
    assert old_name.acks_late is True
    assert not Session.objects.exists()


def test_session_records_are_kept_when_sessions_are_not_rows(settings):
    """With a session engine that keeps no rows, every record would look dead: the
    records (which account deletion uses to end sessions) are left alone."""
    user = UserFactory()
    browser = Client()
    login(browser, user.email)
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    result = do_clear_expired_sign_in_records()
    assert result.session_records == 0
    assert UserSession.objects.filter(user=user).count() == 1
