"""The two user pages of "deletion that really deletes": /account/data/ (delete stored
prompts and completions) and /account/manage/ (delete the account), and the goodbye page.

Purges run in-process through the real task function (tests/privacy/conftest.py:
`task_queue` stands in for the broker, `run_purge` delivers its messages), so no worker
is needed and nothing reaches the shared Redis broker.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from privacy.deletion.purge import do_claim_deletion_request
from privacy.models import DeletionRequest
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.factories.privacy import DeletionRequestFactory
from tests.helpers.accounts import age_reauthentication
from tests.helpers.gateway import decision_status
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import (
    DATA_URL,
    DELETED_URL,
    MANAGE_URL,
    REAUTH_URL,
    asks_for_reauthentication,
    reauthenticate,
    sign_in,
    signed_in_and_reauthenticated,
)

pytestmark = pytest.mark.django_db

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope


# --- Helpers -------------------------------------------------------------------------


def flash(response) -> str:
    """The message this response added (earlier unread ones come first in the storage)."""
    return [str(message) for message in get_messages(response.wsgi_request)][-1]


def text_of(response) -> str:
    return response.content.decode()


# --- /account/data/ --------------------------------------------------------------------


def test_user_can_delete_stored_prompts_older_than_a_date_after_reauthentication(
    task_queue, run_purge, django_capture_on_commit_callbacks, mailoutbox
):
    user = TraceableUserFactory()
    api_key = ApiKeyFactory(user=user)
    now = timezone.now()
    old_prompt, new_prompt = unique_marker("old prompt"), unique_marker("new prompt")
    ingest_numbered(api_key, count=3, prompt=old_prompt, created_at=now - dt.timedelta(days=10))
    ingest_numbered(api_key, count=2, prompt=new_prompt, created_at=now - dt.timedelta(minutes=5))
    cutoff = timezone.localdate() - dt.timedelta(days=3)

    # Signed in, but the page asks for the password first, then comes back to the form.
    client = sign_in(user)
    assert asks_for_reauthentication(client.get(DATA_URL), DATA_URL)
    response = reauthenticate(client, DATA_URL)
    assert response.status_code == 302 and response["Location"] == DATA_URL
    page = client.get(DATA_URL)
    assert page.status_code == 200
    assert "Delete my stored prompts and completions" in text_of(page)
    assert "You have <strong>5</strong> requests" in text_of(page)
    assert 'href="/account/privacy/"' in text_of(page)  # stop future logging there
    assert "billing metadata" in text_of(page)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DATA_URL, {"which": "older", "older_than": cutoff.isoformat()})
    assert response.status_code == 302 and response["Location"] == DATA_URL
    assert "Your request is scheduled" in flash(response)

    # Verified and scheduled at once, by the user, for exactly the chosen day's start.
    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.scope == Scope.PROMPTS
    assert request.origin == DeletionRequest.Origin.USER
    assert request.status == Status.SCHEDULED
    assert request.received_by_id == request.verified_by_id == request.scheduled_by_id == user.pk
    assert request.verification_method == DeletionRequest.VerificationMethod.SIGNED_IN
    assert request.older_than == dt.datetime.combine(cutoff, dt.time.min, tzinfo=dt.UTC)
    assert [message["request_id"] for message in task_queue.purges] == [request.pk]
    page = text_of(client.get(DATA_URL))
    assert "Requests in progress" in page
    assert "<strong>Scheduled</strong>: erasing starts within minutes." in page
    assert f"older than {cutoff:%-d %b %Y}" in page

    run_purge()

    old = Generation.objects.filter(prompt__isnull=True, user=user)
    kept = Generation.objects.filter(prompt__startswith=new_prompt, user=user)
    assert old.count() == 3 and kept.count() == 2
    assert set(old.values_list("text_state", flat=True)) == {Generation.TextState.DELETED}
    assert not Generation.objects.filter(prompt__startswith=old_prompt).exists()
    request.refresh_from_db()
    assert request.status == Status.COMPLETED

    # The receipt, in plain words; the notice mail went to the user.
    page = text_of(client.get(DATA_URL))
    assert "Past requests and receipts" in page
    assert "Prompt and completion text of 3 requests (generations)" in page
    assert "<strong>Completed</strong>: everything this request covered is erased." in page
    assert "You have <strong>2</strong> requests" in page
    assert old_prompt not in page
    assert [mail.to for mail in mailoutbox] == [[user.email]]


def test_deleting_all_stored_prompts_erases_every_text_and_keeps_billing_metadata(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    api_key = ApiKeyFactory(user=user)
    ingest_numbered(api_key, count=4, prompt=unique_marker("prompt"))
    client = signed_in_and_reauthenticated(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DATA_URL, {"which": "all", "older_than": ""})
    assert response.status_code == 302
    assert DeletionRequest.objects.get(user_id=user.pk).older_than is None
    run_purge()
    rows = Generation.objects.filter(user=user)
    assert rows.count() == 4
    assert not rows.filter(prompt__isnull=False).exists()
    assert not rows.filter(completion__isnull=False).exists()
    assert all(row.cost_usd > 0 and row.model and row.api_key_id for row in rows)


def test_the_post_itself_needs_a_recent_reauthentication(
    task_queue, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user)
    assert client.get(DATA_URL).status_code == 200
    # The form was left open past the reauthentication timeout.
    age_reauthentication(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1)
    response = client.post(DATA_URL, {"which": "all"})
    assert asks_for_reauthentication(response, DATA_URL)
    assert not DeletionRequest.objects.exists()

    # A signed-in session that never re-authenticated is asked too.
    fresh = sign_in(user)
    assert asks_for_reauthentication(fresh.post(DATA_URL, {"which": "all"}), DATA_URL)
    assert asks_for_reauthentication(
        fresh.post(MANAGE_URL, {"confirmation": user.email}), MANAGE_URL
    )
    assert not DeletionRequest.objects.exists()
    user.refresh_from_db()
    assert user.is_active

    # Re-entering the password resumes the request that was asked for (allauth's flow).
    with django_capture_on_commit_callbacks(execute=True):
        response = reauthenticate(client, DATA_URL)
    assert response.status_code == 302 and response["Location"] == DATA_URL
    assert DeletionRequest.objects.filter(user_id=user.pk, status=Status.SCHEDULED).count() == 1
    # The same for the account deletion (its confirmation was typed): a clean goodbye.
    with django_capture_on_commit_callbacks(execute=True):
        response = reauthenticate(fresh, MANAGE_URL)
    assert response.status_code == 302 and response["Location"] == DELETED_URL
    assert "Your account has been deleted" in text_of(fresh.get(DELETED_URL))
    user.refresh_from_db()
    assert not user.is_active


def test_signed_out_visitors_are_sent_to_sign_in():
    anonymous = Client()
    for url in (DATA_URL, MANAGE_URL):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"
    response = anonymous.post("/account/data/requests/1/cancel/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ({"which": "older", "older_than": "2999-01-01"}, "Choose today or a day in the past"),
        ({"which": "older", "older_than": "FUTURE"}, "Enter a date as year-month-day"),
        ({"which": "older", "older_than": "2024-13-45"}, "Enter a date as year-month-day"),
        ({"which": "older", "older_than": "31/05/2024"}, "Enter a date as year-month-day"),
        ({"which": "older", "older_than": "99999-01-01"}, "Enter a date as year-month-day"),
        ({"which": "older", "older_than": "2024-05-31'; DROP TABLE x"}, "Enter a date as"),
        ({"which": "older", "older_than": ""}, "Choose the date"),
        ({"which": "older"}, "Choose the date"),
        ({"which": "all", "older_than": "2024-05-31"}, "clear the date"),
        ({"which": "everything"}, "Choose “All of them” or “Only those older than a date”."),
        ({"older_than": "2024-05-31"}, "Choose whether to delete all of them"),
        ({}, "Choose whether to delete all of them"),
    ],
)
def test_bad_dates_and_missing_fields_are_clear_form_errors(posted, error, task_queue):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=2, prompt=unique_marker("prompt"))
    client = signed_in_and_reauthenticated(user)
    response = client.post(DATA_URL, posted)
    assert response.status_code == 200
    page = text_of(response)
    assert "Nothing was deleted. Please correct the form below." in page
    assert error in page
    assert 'role="alert"' in page
    assert not DeletionRequest.objects.exists()
    assert task_queue.purges == []
    assert Generation.objects.filter(user=user, prompt__isnull=False).count() == 2


def test_a_date_of_today_is_accepted():
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user)
    response = client.post(DATA_URL, {"which": "older", "older_than": timezone.localdate()})
    assert response.status_code == 302
    assert DeletionRequest.objects.get(user_id=user.pk).status == Status.SCHEDULED


def test_user_cannot_see_or_cancel_another_users_request(task_queue):
    alice, bob = TraceableUserFactory(), TraceableUserFactory()
    bobs = DeletionRequestFactory(user=bob, scheduled=True)
    alices = DeletionRequestFactory(user=alice, scheduled=True)
    client = signed_in_and_reauthenticated(alice)

    page = text_of(client.get(DATA_URL))
    assert f"/account/data/requests/{alices.pk}/cancel/" in page
    assert f"/account/data/requests/{bobs.pk}/cancel/" not in page

    # A forged id (Bob's), an unknown one and ids that are not integers: 404, nothing moves.
    for url in (
        f"/account/data/requests/{bobs.pk}/cancel/",
        f"/account/data/requests/{bobs.pk + alices.pk + 1000}/cancel/",
        "/account/data/requests/abc/cancel/",
        "/account/data/requests/-1/cancel/",
        f"/account/data/requests/{bobs.pk}.0/cancel/",
        "/account/data/requests/99999999999999999999999/cancel/",
    ):
        response = client.post(url)
        assert response.status_code == 404, url
    bobs.refresh_from_db()
    alices.refresh_from_db()
    assert bobs.status == alices.status == Status.SCHEDULED

    # Her own request she can cancel, while it has not started.
    response = client.post(f"/account/data/requests/{alices.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == DATA_URL
    assert flash(response) == "Request cancelled. Nothing more will be deleted for this request."
    alices.refresh_from_db()
    assert alices.status == Status.CANCELLED and alices.cancelled_by_id == alice.pk
    # Cancelling again: a clear answer, no error page.
    response = client.post(f"/account/data/requests/{alices.pk}/cancel/")
    assert response.status_code == 302
    assert flash(response) == "This request was already cancelled."
    # The cancel URL only takes a POST.
    assert client.get(f"/account/data/requests/{alices.pk}/cancel/").status_code == 405


def test_a_running_request_cannot_be_cancelled(task_queue):
    user = TraceableUserFactory()
    request = DeletionRequestFactory(user=user, scheduled=True)
    assert do_claim_deletion_request(request_id=request.pk) is not None  # a worker took it
    client = signed_in_and_reauthenticated(user)
    page = text_of(client.get(DATA_URL))
    assert "<strong>Running</strong>: erasing now" in page
    assert f"/account/data/requests/{request.pk}/cancel/" not in page

    response = client.post(f"/account/data/requests/{request.pk}/cancel/")
    assert response.status_code == 302
    assert flash(response) == (
        "This request can no longer be cancelled: erasing has already started, and what "
        "is erased cannot be restored."
    )
    request.refresh_from_db()
    assert request.status == Status.RUNNING


def test_double_submission_creates_one_request(task_queue, django_capture_on_commit_callbacks):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=2, prompt=unique_marker("prompt"))
    client = signed_in_and_reauthenticated(user)

    # The same form sent twice (a double click): one open request, a clear answer.
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(DATA_URL, {"which": "all"})
        second = client.post(DATA_URL, {"which": "all"})
    assert first.status_code == second.status_code == 302
    assert flash(second).startswith("Nothing new was requested: your earlier request")
    # A different answer while the first is open is not a second request either.
    third = client.post(DATA_URL, {"which": "older", "older_than": "2024-01-01"})
    assert flash(third).startswith("Nothing new was requested")
    assert DeletionRequest.objects.filter(user_id=user.pk).count() == 1
    assert len(task_queue.purges) == 1

    # Account deletion sent twice: the second answers "already deleted"; one request.
    client = signed_in_and_reauthenticated(user, MANAGE_URL)
    other_device = signed_in_and_reauthenticated(user, MANAGE_URL)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(MANAGE_URL, {"confirmation": user.email})
        again = client.post(MANAGE_URL, {"confirmation": user.email})
        from_other_device = other_device.post(MANAGE_URL, {"confirmation": user.email})
    assert first.status_code == 302 and first["Location"] == DELETED_URL
    assert again.status_code == 302 and again["Location"] == DELETED_URL
    assert flash(again) == "Your account has already been deleted; nothing more to do."
    # The other device's session ended with the deletion: it is simply signed out.
    assert from_other_device.status_code == 302
    assert from_other_device["Location"].startswith("/accounts/login/")
    # The back button to the form: signed out, and the answer is the same.
    back = client.get(MANAGE_URL)
    assert back.status_code == 302 and back["Location"] == DELETED_URL
    assert DeletionRequest.objects.filter(user_id=user.pk, scope=Scope.ACCOUNT).count() == 1


# --- /account/manage/ ------------------------------------------------------------------


def test_account_deletion_requires_reauthentication_and_typed_confirmation(
    task_queue, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    api_key = ApiKeyFactory(user=user)
    client = sign_in(user)

    # Not re-authenticated: neither the page nor the POST.
    assert asks_for_reauthentication(client.get(MANAGE_URL), MANAGE_URL)
    assert asks_for_reauthentication(
        client.post(MANAGE_URL, {"confirmation": user.email}), MANAGE_URL
    )
    # A wrong password re-authenticates nothing.
    response = client.post(REAUTH_URL, {"password": "not-the-password"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.is_active and not DeletionRequest.objects.exists()

    client = signed_in_and_reauthenticated(user, MANAGE_URL)
    page = client.get(MANAGE_URL)
    assert page.status_code == 200
    text = text_of(page)
    for promise in (
        "You are signed out everywhere",
        "Your API keys stop working",
        "Billing totals",
        "No account,\n      key, app, text or time of day is kept",
        "We send a notice to",
        "You can sign up again later with the same email address",
        f"Type <strong>{user.email}</strong>",
    ):
        assert promise in text, promise

    # Wrong, empty or missing confirmation: a clear error, nothing happens.
    for posted in (
        {"confirmation": "DELETE"},
        {"confirmation": f"x{user.email}"},
        {"confirmation": "someone.else@example.com"},
        {"confirmation": "   "},
        {"confirmation": ""},
        {"confirmation": "a" * 300},
        {},
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(MANAGE_URL, posted)
        assert response.status_code == 200, posted
        assert 'role="alert"' in text_of(response), posted
        assert "nothing was deleted" in text_of(response) or "at most 254" in text_of(response)
    user.refresh_from_db()
    api_key.refresh_from_db()
    assert user.is_active and api_key.is_active
    assert not DeletionRequest.objects.exists()
    assert task_queue.purges == []

    # The address, typed with other capitals and spaces around it, is accepted.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(MANAGE_URL, {"confirmation": f"  {user.email.upper()} "})
    assert response.status_code == 302 and response["Location"] == DELETED_URL
    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.scope == Scope.ACCOUNT and request.status == Status.SCHEDULED
    assert request.origin == DeletionRequest.Origin.USER and request.scheduled_by_id == user.pk
    assert request.verification_method == DeletionRequest.VerificationMethod.SIGNED_IN
    assert [message["request_id"] for message in task_queue.purges] == [request.pk]


def test_deleted_user_is_signed_out_and_cannot_sign_in(
    task_queue, run_purge, django_capture_on_commit_callbacks, mailoutbox
):
    user = TraceableUserFactory()
    email = user.email
    raw_key = ApiKeyFactory(user=user, name="my app").raw_key
    assert decision_status(raw_key) == 200
    other_device = sign_in(user)
    client = signed_in_and_reauthenticated(user, MANAGE_URL)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(MANAGE_URL, {"confirmation": email})
    assert response.status_code == 302 and response["Location"] == DELETED_URL

    # A clean goodbye page in a fresh, signed-out session.
    goodbye = client.get(DELETED_URL)
    assert goodbye.status_code == 200
    assert not goodbye.wsgi_request.user.is_authenticated
    assert "Your account has been deleted" in text_of(goodbye)
    assert "What happens next" in text_of(goodbye)
    assert 'action="/accounts/logout/"' not in text_of(goodbye)  # no "Sign out" button
    # Signed out here and on the other device.
    for session in (client, other_device):
        response = session.get("/account/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # The account is closed and its key refused (403: the account is not active).
    user.refresh_from_db()
    assert not user.is_active and not user.has_usable_password()
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert decision_status(raw_key) == 403
    # Signing in again is refused.
    response = Client().post("/accounts/login/", {"login": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated

    # The purge erases the account; the notice goes out; the address is free again.
    run_purge()
    assert not User.objects.filter(pk=user.pk).exists()
    assert [mail.to for mail in mailoutbox] == [[email]]
    assert "Your account has been deleted" in mailoutbox[0].subject
    response = Client().post("/accounts/login/", {"login": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_goodbye_page_is_public_and_plain_without_a_deletion():
    response = Client().get(DELETED_URL)
    assert response.status_code == 200
    assert "Account deleted" in text_of(response)
    assert "Your account has been deleted" not in text_of(response)
    assert Client().post(DELETED_URL).status_code == 405


def test_forms_without_a_csrf_token_are_refused(task_queue):
    user = TraceableUserFactory()
    request = DeletionRequestFactory(user=user, scheduled=True)
    client = signed_in_and_reauthenticated(user)
    client.handler.enforce_csrf_checks = True  # from now on, as a browser's forged post
    for url, posted in (
        (DATA_URL, {"which": "all"}),
        (MANAGE_URL, {"confirmation": user.email}),
        (f"/account/data/requests/{request.pk}/cancel/", {}),
    ):
        response = client.post(url, posted)
        assert response.status_code == 403, url
    user.refresh_from_db()
    request.refresh_from_db()
    assert user.is_active and request.status == Status.SCHEDULED
    assert DeletionRequest.objects.count() == 1


def test_pages_reject_other_methods():
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user)
    for url in (DATA_URL, MANAGE_URL):
        assert client.put(url).status_code == 405
        assert client.delete(url).status_code == 405


def test_the_account_hub_links_both_pages():
    user = TraceableUserFactory()
    page = text_of(sign_in(user).get("/account/"))
    assert f'href="{DATA_URL}"' in page
    assert f'href="{MANAGE_URL}"' in page
