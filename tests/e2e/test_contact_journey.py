"""A person asks on /contact/ to delete their stored prompts, without signing in; support
(signed in with a password and an authenticator app) finds the ticket, turns it into a
deletion request in one step and verifies it; a second member of staff schedules it (four
eyes), and a real Celery worker erases the text. The ticket links to the completed
request. Real Chromium, a real worker, axe on the new pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from logging_prefs.models import Generation
from privacy import tasks
from privacy.models import AuditEvent, DeletionRequest
from support.models import Ticket
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.admin import make_support_member
from tests.helpers.browser import TIMEOUT_MS, BrowserGuard, assert_accessible
from tests.helpers.markers import unique_marker
from tests.helpers.purge_worker import PurgeRun
from tests.mfa import code_for, give_authenticator_app

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SUPPORT_PASSWORD = "support-Staff-password-42"
PURGE_TIMEOUT = 60


@pytest.fixture
def worker(redis_url, tmp_path, monkeypatch) -> Iterator[PurgeRun]:
    """A real `celery worker` on a private queue, against the live server's database."""
    run = PurgeRun(redis_url, tmp_path)
    run.env["PORTAL_TEST_PURGE_CHUNK_PAUSE"] = "0"
    monkeypatch.setattr(tasks, "enqueue_purge", run.enqueue_purge)
    try:
        run.start_worker()
        yield run
    finally:
        run.close()


def support_staff() -> tuple[User, str]:
    member = make_support_member()
    member.set_password(SUPPORT_PASSWORD)
    member.save(update_fields=["password"])
    return member, give_authenticator_app(member)


def sign_in_to_the_admin(page: Page, member: User, secret: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(SUPPORT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.get_by_label("Code").fill(code_for(secret))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_a_person_asks_on_contact_and_support_turns_it_into_a_completed_request(
    page: Page, browser: Browser, browser_guard: BrowserGuard, live_server, worker
):
    person = TraceableUserFactory()
    prompt = unique_marker("secret prompt")
    ingest_numbered(ApiKeyFactory(user=person), count=4, prompt=prompt)
    stored = Generation.objects.filter(user=person, text_state=Generation.TextState.STORED)
    assert stored.count() == 4
    first, first_secret = support_staff()
    second, second_secret = support_staff()

    # --- The person writes in, signed out: the footer leads to the contact page.
    page.goto("/")
    page.get_by_role("contentinfo").get_by_role("link", name="Contact").click()
    expect(page).to_have_url(re.compile(r"/contact/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Contact us")
    expect(page.locator("main")).to_contain_text("support@portal.localhost")
    assert_accessible(page)
    browser_guard.assert_clean()
    page.get_by_label("Delete my stored prompts and completions").check()
    page.get_by_label("Your email address").fill(person.email)
    page.get_by_label("Your message").fill("Please delete every prompt you stored for me.")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/contact/sent/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Message sent")
    assert_accessible(page)
    browser_guard.assert_clean()
    ticket = Ticket.objects.get(email=person.email)
    assert ticket.kind == Ticket.Kind.DELETE_PROMPTS and ticket.user is None
    (confirmation,) = [m for m in mail.outbox if m.to == [person.email]]
    assert str(ticket) in confirmation.subject
    assert confirmation.reply_to == ["support@portal.localhost"]

    # --- Support finds the ticket, with the days left, and opens its request.
    sign_in_to_the_admin(page, first, first_secret)
    browser_guard.assert_clean()
    page.get_by_role("link", name="Tickets").first.click()
    expect(page).to_have_url(re.compile(r"/admin/support/ticket/$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Delete my stored prompts and completions")
    expect(rows.first.locator(".field-days_left")).to_have_text(re.compile(r"^(29|30)$"))
    browser_guard.assert_clean()
    rows.first.get_by_role("link", name=str(ticket.pk), exact=True).click()
    expect(page.locator("#content")).to_contain_text("Please delete every prompt")
    browser_guard.assert_clean()
    page.get_by_role("link", name="Open the deletion request").click()
    expect(page.get_by_label("Account's email or wallet address")).to_have_value(person.email)
    browser_guard.assert_clean()
    page.get_by_role("button", name="Open the deletion request").click()
    expect(page.locator(".messagelist")).to_contain_text("Verify the requester next")
    expect(page).to_have_url(re.compile(r"/admin/privacy/deletionrequest/\d+/change/$"))
    browser_guard.assert_clean()
    request = DeletionRequest.objects.get(user_id=person.pk)
    assert (request.scope, request.origin, request.received_by_id) == (
        "prompts",
        "support",
        first.pk,
    )
    ticket.refresh_from_db()
    assert ticket.deletion_request_id == request.pk

    # --- Verified by a reply from the address (the ticket's answer asked for one).
    page.get_by_role("link", name="Verify", exact=True).click()
    page.get_by_label("Reply from the account's email address").check()
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("is verified", re.I))
    # Four eyes: whoever opened and verified it does not schedule it.
    expect(page.locator("#content")).to_contain_text("another member of staff")
    expect(page.get_by_role("link", name="Schedule", exact=True)).to_have_count(0)
    browser_guard.assert_clean()

    # --- A second member of staff schedules it; the worker erases the text.
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        other = context.new_page()
        other_guard = BrowserGuard(origin=live_server.url)
        other_guard.attach(other)
        sign_in_to_the_admin(other, second, second_secret)
        other_guard.assert_clean()
        other.goto(f"/admin/privacy/deletionrequest/{request.pk}/change/", wait_until="load")
        other_guard.assert_clean()
        other.get_by_role("link", name="Schedule", exact=True).click()
        expect(other.get_by_role("button", name="Schedule the purge")).to_be_visible()
        other.wait_for_load_state("load")
        other_guard.assert_clean()
        other.get_by_role("button", name="Schedule the purge").click()
        expect(other.locator(".messagelist")).to_contain_text("the purge starts now")
        other_guard.assert_clean()
    finally:
        context.close()

    deadline = time.monotonic() + PURGE_TIMEOUT
    while not DeletionRequest.objects.filter(
        pk=request.pk, status=DeletionRequest.Status.COMPLETED
    ).exists():
        assert time.monotonic() < deadline, f"the purge did not complete\n{worker.logs()}"
        time.sleep(0.2)
    assert stored.count() == 0
    assert Generation.objects.filter(user=person).count() == 4  # metadata stays
    assert User.objects.get(pk=person.pk).is_active

    # --- The ticket links to its completed request.
    page.goto(f"/admin/support/ticket/{ticket.pk}/change/")
    link = page.locator(".field-request_link")
    expect(link).to_contain_text("Completed")
    link.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/admin/privacy/deletionrequest/{request.pk}/change/$"))
    browser_guard.assert_clean()
    assert list(
        AuditEvent.objects.filter(deletion_request=request)
        .exclude(action__in=["claimed", "chunk", "completed", "notice_sent"])
        .values_list("action", "actor_id")
    )[:3] == [("requested", first.pk), ("verified", first.pk), ("scheduled", second.pk)]
