"""Support staff, end to end in real Chromium with a real Celery worker: sign in to the
admin (password and authenticator app), find a user's deletion request with the list
filter, verify it (choosing how) and schedule it; the worker purges; the request's page
shows it completed, with the receipt."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from privacy import tasks
from privacy.deletion.requests import do_request_deletion
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.admin import make_support_member
from tests.helpers.markers import unique_marker
from tests.helpers.purge_worker import PurgeRun
from tests.mfa import code_for, give_authenticator_app

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SUPPORT_PASSWORD = "support-Staff-password-42"
PURGE_TIMEOUT = 60


@pytest.fixture
def worker(redis_url, tmp_path, monkeypatch) -> Iterator[PurgeRun]:
    """A real `celery worker` on a private queue, against the live server's database
    (the test database, committed: transaction=True)."""
    run = PurgeRun(redis_url, tmp_path)
    run.env["PORTAL_TEST_PURGE_CHUNK_PAUSE"] = "0"
    # What the live server enqueues on commit goes to the run's private queue.
    monkeypatch.setattr(tasks, "enqueue_purge", run.enqueue_purge)
    try:
        run.start_worker()
        yield run
    finally:
        run.close()


def test_support_verifies_and_schedules_a_request_and_sees_the_receipt(
    page: Page, browser_guard, worker
):
    person = TraceableUserFactory()
    person_id = person.pk
    ingest_numbered(ApiKeyFactory(user=person), count=5, prompt=unique_marker("prompt"))
    # The person asked from their account (RECEIVED, waiting for verification).
    request = do_request_deletion(user=person, acting_user=person, scope="account", origin="user")
    other = do_request_deletion(
        user=TraceableUserFactory(), acting_user=None, scope="prompts", origin="support"
    )
    DeletionRequest.objects.filter(pk=other.pk).update(status=DeletionRequest.Status.CANCELLED)
    staff = make_support_member()
    staff.set_password(SUPPORT_PASSWORD)
    staff.save(update_fields=["password"])

    secret = give_authenticator_app(staff)

    # --- Sign in to the admin: the portal's sign-in, then the authenticator app's code.
    page.goto("/admin/login/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2Flogin%2F$"))
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(SUPPORT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.get_by_label("Code").fill(code_for(secret))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    browser_guard.assert_clean()
    # Least privileges: no generations (prompt text), no groups.
    expect(page.get_by_role("link", name="Generations")).to_have_count(0)
    expect(page.get_by_role("link", name="Groups")).to_have_count(0)

    # --- Find the request: the list, filtered to what waits for verification.
    page.get_by_role("link", name="Deletion requests").first.click()
    expect(page).to_have_url(re.compile(r"/admin/privacy/deletionrequest/$"))
    browser_guard.assert_clean()
    page.locator("#changelist-filter").get_by_role("link", name="Received", exact=True).click()
    expect(page).to_have_url(re.compile(r"status__exact=received"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("The whole account")
    browser_guard.assert_clean()
    rows.first.get_by_role("link", name=str(request.pk), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/admin/privacy/deletionrequest/{request.pk}/change/"))
    expect(page.locator("#content")).to_contain_text("Received")
    expect(page.locator("#content")).not_to_contain_text(person.email)
    browser_guard.assert_clean()

    # --- Verify, choosing how.
    page.get_by_role("link", name="Verify", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Verify {request}")
    browser_guard.assert_clean()
    page.get_by_label("Reply from the account's email address").check()
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".messagelist")).to_contain_text(
        re.compile(f"{request} is verified", re.IGNORECASE)
    )
    browser_guard.assert_clean()
    request.refresh_from_db()
    assert request.status == DeletionRequest.Status.VERIFIED
    assert request.verification_method == "email_reply"
    assert request.verified_by_id == staff.pk

    # --- Schedule: the account closes and the worker purges it.
    page.get_by_role("link", name="Schedule", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("This cannot be undone once it runs.")
    browser_guard.assert_clean()
    page.get_by_role("button", name="Schedule the purge").click()
    expect(page.locator(".messagelist")).to_contain_text("the purge starts now")
    browser_guard.assert_clean()

    deadline = time.monotonic() + PURGE_TIMEOUT
    while not DeletionRequest.objects.filter(
        pk=request.pk, status=DeletionRequest.Status.COMPLETED
    ).exists():
        assert time.monotonic() < deadline, f"the purge did not complete\n{worker.logs()}"
        time.sleep(0.2)

    # --- Reload: completed, with the receipt (counts only).
    page.reload()
    content = page.locator("#content")
    expect(content.locator(".field-status")).to_contain_text("Completed")
    receipt = content.locator("table.receipt")
    expect(receipt).to_contain_text("accounts.user")
    expect(receipt.locator("tr", has_text="kept, anonymised").first).to_contain_text(
        "logging_prefs.generation"
    )
    # The completed purge forgot the account's id: the request is found by its own.
    expect(content.locator(".field-account .readonly")).to_have_text("erased")
    expect(content.locator(".field-account")).not_to_contain_text(str(person_id))
    browser_guard.assert_clean()
    assert not User.objects.filter(pk=person_id).exists()
    assert list(
        AuditEvent.objects.filter(deletion_request=request, actor_id=staff.pk).values_list(
            "action", flat=True
        )
    ) == ["verified", "account_closed", "scheduled"]
