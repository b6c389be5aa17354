"""Deleting an account, end to end in real Chromium: sign in, "Manage account",
re-enter the password, type the confirmation, delete; signed out on the goodbye page,
refused at sign-in, and the gateway's next decision for the account's key is 403."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import ApiKey, User
from privacy import tasks
from privacy.models import DeletionRequest
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, UserFactory
from tests.helpers.browser import gateway_post, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "grace@example.com"


def gateway_decision(live_server, raw_key: str) -> int:
    """The status of the gateway's question for `raw_key`."""
    status, _ = gateway_post(live_server, "decisions", {"api_key": raw_key})
    return status


@pytest.fixture
def published_purges(monkeypatch) -> list[int]:
    """The purge messages the deletion publishes, kept here instead of the shared broker
    (a worker of another test database must never receive them). The live server runs in
    this process, so the patch applies to its requests."""
    published: list[int] = []
    monkeypatch.setattr(
        tasks, "enqueue_purge", lambda request_id, **kwargs: published.append(request_id)
    )
    return published


def test_a_user_deletes_their_account_and_is_signed_out_for_good(
    page: Page, browser_guard, live_server, published_purges
):
    user = UserFactory(email=EMAIL, verified=True)
    api_key = ApiKeyFactory(user=user, name="My app")
    raw_key = api_key.raw_key
    assert gateway_decision(live_server, raw_key) == 200

    # --- Sign in; the account menu leads to "Manage account".
    sign_in(page, EMAIL)
    expect(page).to_have_url(re.compile(r"/account/$"))
    browser_guard.assert_clean()
    page.get_by_role("navigation", name="Account").get_by_role(
        "link", name="Manage account"
    ).click()

    # --- Asked to re-enter the password first, then back to the page.
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/\?next=%2Faccount%2Fmanage%2F$"))
    browser_guard.assert_clean()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm Access")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/account/manage/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Manage account")
    main = page.get_by_role("main")
    expect(main).to_contain_text("You are signed out everywhere")
    expect(main).to_contain_text("You can sign up again later with the same email address")
    browser_guard.assert_clean()

    # --- A wrong confirmation: a clear error, nothing happens.
    confirmation = page.get_by_label("Type your email address to confirm")
    confirmation.fill("DELETE")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert")).to_contain_text("That is not this account’s email address")
    expect(confirmation).to_have_attribute("aria-invalid", "true")
    browser_guard.assert_clean()
    user.refresh_from_db()
    assert user.is_active
    assert not DeletionRequest.objects.exists()

    # --- The address typed: the account is deleted, the browser lands signed out.
    confirmation.fill(EMAIL)
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/account/deleted/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account has been deleted")
    expect(main).to_contain_text("What happens next")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Sign in")).to_be_visible()
    expect(main_nav.get_by_role("button", name="Sign out")).to_have_count(0)
    browser_guard.assert_clean()

    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.scope == DeletionRequest.Scope.ACCOUNT
    assert request.status == DeletionRequest.Status.SCHEDULED
    assert published_purges == [request.pk]
    user.refresh_from_db()
    assert not user.is_active
    api_key.refresh_from_db()
    assert not api_key.is_active

    # --- Back to the form (as the back button would reload it): a clear answer, no
    # second request.
    page.goto("/account/manage/")
    expect(page).to_have_url(re.compile(r"/account/deleted/$"))
    expect(page.get_by_role("status")).to_have_text(
        "Your account has already been deleted; nothing more to do."
    )
    browser_guard.assert_clean()
    assert DeletionRequest.objects.filter(user_id=user.pk).count() == 1

    # --- Signing in again is refused.
    main_nav.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("main")).to_contain_text("not correct")
    expect(main_nav.get_by_role("link", name="Sign in")).to_be_visible()
    browser_guard.assert_clean()
    page.goto("/account/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/account/$"))
    browser_guard.assert_clean()

    # --- The gateway's next decision for the key: 403, the account is not active.
    assert gateway_decision(live_server, raw_key) == 403
    assert ApiKey.objects.filter(user_id=user.pk, revoked_at__isnull=True).count() == 0
    assert User.objects.filter(pk=user.pk, is_active=False).exists()
