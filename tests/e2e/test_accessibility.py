"""Every page a person can reach, in every state that matters, meets WCAG 2.1 AA as
axe-core checks it, reflows at 360 px without scrolling sideways (WCAG 1.4.10), and reads
without JavaScript.

The sweep is a list of visits per audience (a visitor, a member, a member with every
notice, a wallet-only member, a member with an authenticator app and a passkey, support
staff without a second factor, support staff, an administrator). A visit names the URL
pattern the browser must end on, so `test_every_named_page_is_swept_or_excused` fails
for a page added to the URLconf that is neither swept nor excused with a reason.
Adding a page is one line in its audience's list:

    Visit("mfa_index", "/accounts/2fa/"),

with `{placeholders}` filled from the `world` fixture's data, and `then=` for a state
the page reaches by acting on it (a form sent with errors).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pyotp
import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.account.utils import user_pk_to_url_str
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import SuspiciousOperation
from django.shortcuts import render
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from accounts.models import SecurityNotice, User
from catalog.demo_data import load_demo_catalog
from catalog.models import LanguageModel
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import Generation
from portal import views as portal_views
from privacy import tasks
from privacy.cookies import NOTICE_COOKIE
from privacy.deletion.requests import (
    do_delete_stored_prompts,
    do_request_deletion,
    do_verify_deletion_request,
)
from privacy.models import DeletionRequest, ServiceProvider
from privacy.policy import CURRENT
from privacy.termination.terminate import do_terminate_account
from privacy.terms import CURRENT as CURRENT_TERMS
from support.actions import do_file_ticket
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, UserFactory, WalletUserFactory
from tests.factories.logging_prefs import GenerationFactory, ingest_numbered
from tests.helpers.admin import make_superuser, make_support_member, seed_service_providers
from tests.helpers.browser import (
    TIMEOUT_MS,
    BrowserGuard,
    add_virtual_authenticator,
    assert_accessible,
    axe_violations,
    describe_violations,
    install_browser_wallet,
    sign_in,
    sign_out,
)
from tests.mfa import authenticator_secret, code_for, give_authenticator_app
from tests.wallets import TestWallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1280, "height": 900}
# The narrowest phones in use; WCAG 1.4.10 asks for 320 CSS px at 400% zoom of 1280.
NARROW = {"width": 360, "height": 740}
STAFF_PASSWORD = "support-Staff-password-42"
# Fixed test keys: nothing of value is, or ever was, held by them.
WALLET = TestWallet.from_key("0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f")
NEW_WALLET = TestWallet.from_key(
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
)


@dataclass(frozen=True)
class Visit:
    """One page in one state. `path` is formatted with the world's values; `then` acts
    on the page to put it in `state`; the browser must end on URL pattern `name`."""

    name: str
    path: str
    state: str = ""
    then: Callable[[Page, dict], None] | None = None
    status: int = 200  # the page's own answer (a form sent with errors may be a 400)

    def __str__(self) -> str:
        return f"{self.name} ({self.state})" if self.state else self.name


# --- How a page is put in a state ------------------------------------------------------


def _send_a_wrong_password(page: Page, world: dict) -> None:
    page.get_by_label("Email").fill(world["member_email"])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign In", exact=True).click()


def send_sign_in_with_a_wrong_password(page: Page, world: dict) -> None:
    _send_a_wrong_password(page, world)
    expect(page.get_by_text("password you specified are not correct")).to_be_visible()


def send_sign_up_with_errors(page: Page, world: dict) -> None:
    """The server's own errors: passwords that differ and no 13-or-older box (the
    browser's validation, which would stop the form first, is switched off)."""
    page.get_by_label("Email").fill("new-person@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill("correct-Horse-battery-42")
    page.get_by_label("Password (again)").fill("another-Horse-battery-42")
    sign_up = page.get_by_role("button", name="Sign Up")
    page.locator("form").filter(has=sign_up).evaluate("form => { form.noValidate = true; }")
    sign_up.click()
    expect(page.get_by_text("Please confirm your age to continue.")).to_be_visible()


def send_a_form_without_its_csrf_cookie(page: Page, world: dict) -> None:
    """Cookies blocked or expired between showing a form and sending it."""
    page.context.clear_cookies(name="csrftoken")
    _send_a_wrong_password(page, world)
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")


def send_password_reset(page: Page, world: dict) -> None:
    page.get_by_label("Email").fill(world["member_email"])
    page.get_by_role("button", name="Reset My Password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/done/$"))


def sign_up_with_a_new_wallet_without_the_age_box(page: Page, world: dict) -> None:
    page.get_by_role("button", name="Sign in with my wallet").click()
    expect(page).to_have_url(re.compile(r"/accounts/wallet/signup/$"))
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_be_visible()


def open_the_charts_figures(page: Page, world: dict) -> None:
    page.get_by_text("The charts’ figures as a table").click()
    expect(page.get_by_role("table", name="Usage per day")).to_be_visible()


def create_a_key(page: Page, world: dict) -> None:
    page.get_by_label("Name", exact=True).fill("Shown once")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("status")).to_contain_text("created")


def send_an_empty_key_name(page: Page, world: dict) -> None:
    name = page.get_by_label("Name", exact=True)
    name.fill("")
    name.evaluate("input => { input.form.noValidate = true; }")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("alert").first).to_be_visible()


def send_a_wrong_password_to_reauthenticate(page: Page, world: dict) -> None:
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".errorlist").first).to_be_visible()


def confirm_with_the_password(page: Page, world: dict) -> None:
    """The data and account pages ask for the password again first, even just after
    signing in."""
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/reauthenticate/"))


def confirm_with_the_wallet(page: Page, world: dict) -> None:
    """A wallet account's sensitive page asks to confirm it is you first: sign."""
    expect(page).to_have_url(re.compile(r"/accounts/wallet/reauthenticate/"))
    page.get_by_role("button", name="Confirm with my wallet").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/wallet/reauthenticate/"))


def a_wrong_code(secret: str) -> str:
    """Six digits that are not the authenticator app's code for this step."""
    return f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"


def send_the_password_of_a_member_with_an_app(page: Page, world: dict) -> None:
    """The first step of a sign-in with a second factor: the code page follows."""
    page.get_by_label("Email").fill(world["app_user_email"])
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))


def send_a_wrong_code_to_sign_in(page: Page, world: dict) -> None:
    page.get_by_label("Code").fill(a_wrong_code(world["app_user_secret"]))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()


def send_a_wrong_code_to_activate(page: Page, world: dict) -> None:
    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(a_wrong_code(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()


def activate_the_app(page: Page, world: dict) -> None:
    """The code the app shows for the secret beside the QR code: recovery codes come
    with the first second factor."""
    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(code_for(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    expect(page.locator("main")).to_contain_text("Authenticator app activated.")


def send_a_wrong_code_to_reauthenticate(page: Page, world: dict) -> None:
    secret = authenticator_secret(User.objects.get(email=world["guarded_email"]))
    assert secret, "the member set up no authenticator app"
    page.get_by_label("Code").fill(a_wrong_code(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()


def add_a_passkey(page: Page, world: dict) -> None:
    """With the browser's (virtual) authenticator, beside the app and its codes."""
    page.get_by_label("Name").fill("This laptop")
    page.get_by_label("Passwordless").check()
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/$"))
    expect(page.locator("main")).to_contain_text("Security key added.")


def open_the_passkeys_edit_page(page: Page, world: dict) -> None:
    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/webauthn/keys/\d+/edit/$"))


def send_the_passkey_without_a_name(page: Page, world: dict) -> None:
    open_the_passkeys_edit_page(page, world)
    name = page.get_by_label("Name")
    name.fill("")
    name.evaluate("input => { input.form.noValidate = true; }")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".errorlist").first).to_be_visible()


def open_the_passkeys_remove_page(page: Page, world: dict) -> None:
    page.get_by_role("link", name="Remove").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/webauthn/keys/\d+/remove/$"))


def set_up_an_app_after_signing_in(page: Page, world: dict) -> None:
    """Staff who signed in before setting up an app confirm with it before the admin."""
    give_authenticator_app(User.objects.get(pk=world["unguarded_staff"]))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/\?next=%2Fadmin%2F$"))


def send_the_contact_form_with_errors(page: Page, world: dict) -> None:
    """The server's own errors: no subject chosen, no address, no message."""
    send = page.get_by_role("button", name="Send")
    page.locator("form").filter(has=send).evaluate("form => { form.noValidate = true; }")
    send.click()
    expect(page.get_by_text("Choose what your message is about.")).to_be_visible()


def send_a_question(page: Page, world: dict) -> None:
    page.get_by_label("A question").check()
    page.get_by_label("Your email address").fill("asking@example.com")
    page.get_by_label("Your message").fill("Which models keep nothing?")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/contact/sent/$"))


# --- Who visits what ---------------------------------------------------------------------

VISITOR_PAGES = (
    Visit("home", "/"),
    Visit("account_login", "/accounts/login/"),
    Visit(
        "account_login", "/accounts/login/", "wrong password", send_sign_in_with_a_wrong_password
    ),
    Visit("account_signup", "/accounts/signup/"),
    Visit("account_signup", "/accounts/signup/", "with errors", send_sign_up_with_errors),
    Visit("account_email_verification_sent", "/accounts/confirm-email/"),
    Visit("account_confirm_email", "/accounts/confirm-email/{confirmation_key}/"),
    Visit("account_confirm_email", "/accounts/confirm-email/no-such-key/", "a bad link"),
    Visit("account_reset_password", "/accounts/password/reset/"),
    Visit("account_reset_password_done", "/accounts/password/reset/", "sent", send_password_reset),
    Visit("account_reset_password_from_key", "/accounts/password/reset/key/{reset_key}/"),
    Visit("account_reset_password_from_key", "/accounts/password/reset/key/1-bad/", "bad key"),
    Visit("account_reset_password_from_key_done", "/accounts/password/reset/key/done/"),
    Visit("account_inactive", "/accounts/inactive/"),
    Visit("wallet_login", "/accounts/wallet/login/"),
    Visit("wallet_login", "/accounts/wallet/login/?address={new_wallet}", "message to sign"),
    Visit("wallet_login", "/accounts/wallet/login/?address=0xnot", "a bad address"),
    Visit(
        "wallet_signup",
        "/accounts/wallet/login/",
        "a new wallet, sent without the age box",
        sign_up_with_a_new_wallet_without_the_age_box,
        status=400,
    ),
    Visit("models_index", "/models/"),
    Visit("model_detail", "/models/{model}/"),
    Visit("privacy_policy", "/legal/privacy/"),
    Visit("privacy_policy_version", "/legal/privacy/{policy_version}/"),
    Visit("cookie_list", "/legal/cookies/"),
    Visit("service_providers", "/legal/service-providers/"),
    Visit("data_location", "/legal/data-location/"),
    Visit("terms_of_service", "/legal/terms/"),
    Visit("terms_of_service_version", "/legal/terms/{terms_version}/"),
    Visit("contact", "/contact/"),
    Visit("contact", "/contact/", "with errors", send_the_contact_form_with_errors),
    Visit("contact_sent", "/contact/", "sent", send_a_question),
    Visit("account_deleted", "/account/deleted/"),
    Visit("", "/no-such-page/", "the 404 page", status=404),
    Visit(
        "account_login",
        "/accounts/login/",
        "the 403 page of a form sent without its CSRF cookie",
        send_a_form_without_its_csrf_cookie,
        status=403,
    ),
    Visit("", "/__error__/400/", "the 400 page", status=400),
    Visit("", "/__error__/429/", "the 429 page", status=429),
    Visit("", "/__error__/500/", "the 500 page", status=500),
    # The admin signs staff in where everyone signs in (secure_admin_login).
    Visit("account_login", "/admin/login/", "the admin's sign-in"),
    # Last: the session is left half signed in.
    Visit(
        "mfa_authenticate",
        "/accounts/login/",
        "during a sign-in with an authenticator app",
        send_the_password_of_a_member_with_an_app,
    ),
    Visit(
        "mfa_authenticate",
        "/accounts/2fa/authenticate/",
        "a wrong code",
        send_a_wrong_code_to_sign_in,
    ),
)

MEMBER_PAGES = (
    Visit("account_home", "/account/"),
    Visit("account_profile", "/account/profile/"),
    Visit("account_email", "/accounts/email/"),
    Visit("account_change_password", "/accounts/password/change/"),
    Visit("usersessions_list", "/accounts/sessions/"),
    Visit("account_keys", "/account/keys/"),
    Visit("account_keys", "/account/keys/", "a new key shown once", create_a_key),
    Visit("account_keys", "/account/keys/", "with errors", send_an_empty_key_name),
    Visit("account_key_detail", "/account/keys/{key}/"),
    Visit("account_key_revoke", "/account/keys/{key}/revoke/"),
    Visit("account_wallets", "/account/wallets/"),
    Visit("account_privacy", "/account/privacy/"),
    Visit("account_activity", "/account/activity/"),
    Visit(
        "account_activity",
        "/account/activity/?period=all",
        "all time, the charts' figures opened",
        open_the_charts_figures,
    ),
    Visit("account_activity", "/account/activity/?period=bogus&date_to=soon", "with errors"),
    Visit("account_activity_detail", "/account/activity/{generation_with_text}/", "with text"),
    Visit("account_activity_detail", "/account/activity/{generation_without_text}/", "no text"),
    Visit("account_activity_detail", "/account/activity/{failed_generation}/", "failed call"),
    Visit("account_data", "/account/data/", "", confirm_with_the_password),
    Visit("account_manage", "/account/manage/"),  # confirmed on the line above
    Visit("mfa_index", "/accounts/2fa/", "no second factor"),
    Visit(
        "mfa_index",
        "/accounts/2fa/totp/activate/",
        "setting up refused while an address is unverified",
    ),
    Visit("mfa_list_webauthn", "/accounts/2fa/webauthn/", "none added"),
    Visit("model_detail", "/models/{model}/", "signed in: the endpoints my choices allow"),
    Visit("account_reauthenticate", "/accounts/reauthenticate/"),
    Visit(
        "account_reauthenticate",
        "/accounts/reauthenticate/",
        "wrong password",
        send_a_wrong_password_to_reauthenticate,
    ),
    Visit("account_request_reauthentication_code", "/accounts/reauthenticate/code/"),
    Visit("wallet_reauthenticate", "/accounts/wallet/reauthenticate/"),
    Visit("contact", "/contact/", "signed in: the address filled in"),
    Visit("account_logout", "/accounts/logout/"),
)

# The notices shown above every page until read: the security notice, the policy
# notice and the cookie notice, all at once.
NOTICED_PAGES = (
    Visit("account_home", "/account/", "every notice"),
    Visit("account_privacy", "/account/privacy/", "every notice"),
    Visit("privacy_policy", "/legal/privacy/", "every notice, not acknowledged"),
    Visit("terms_of_service", "/legal/terms/", "every notice, not acknowledged"),
    Visit("home", "/", "every notice"),
)

WALLET_MEMBER_PAGES = (
    Visit("account_home", "/account/", "a wallet account"),
    Visit("account_wallets", "/account/wallets/", "a wallet account"),
    Visit("account_email", "/accounts/email/", "a wallet account"),
    Visit("account_set_password", "/accounts/password/set/", "", confirm_with_the_wallet),
    Visit("wallet_reauthenticate", "/accounts/wallet/reauthenticate/", "a wallet account"),
    Visit("wallet_reauthenticate", "/accounts/wallet/reauthenticate/?address={wallet}", "message"),
    Visit("account_manage", "/account/manage/", "a wallet account"),  # confirmed above
    Visit("mfa_index", "/accounts/2fa/", "a wallet account"),
)

# A member sets up an authenticator app and a passkey, as a person does on the Security
# page, then sees and manages all three kinds of second factor.
GUARDED_MEMBER_PAGES = (
    Visit("mfa_index", "/accounts/2fa/", "no second factor, every address verified"),
    Visit(
        "mfa_activate_totp",
        "/accounts/2fa/totp/activate/",
        "the QR code",
        confirm_with_the_password,
    ),
    Visit(
        "mfa_activate_totp",
        "/accounts/2fa/totp/activate/",
        "a wrong code",
        send_a_wrong_code_to_activate,
    ),
    Visit(
        "mfa_view_recovery_codes",
        "/accounts/2fa/totp/activate/",
        "just made: the app activated",
        activate_the_app,
    ),
    Visit("mfa_index", "/accounts/2fa/", "an authenticator app and recovery codes"),
    Visit("mfa_add_webauthn", "/accounts/2fa/webauthn/add/"),
    Visit("mfa_index", "/accounts/2fa/webauthn/add/", "a passkey added too", add_a_passkey),
    Visit("mfa_view_recovery_codes", "/accounts/2fa/recovery-codes/"),
    Visit("mfa_generate_recovery_codes", "/accounts/2fa/recovery-codes/generate/"),
    Visit("mfa_deactivate_totp", "/accounts/2fa/totp/deactivate/"),
    Visit("mfa_list_webauthn", "/accounts/2fa/webauthn/", "a passkey"),
    Visit("mfa_edit_webauthn", "/accounts/2fa/webauthn/", "", open_the_passkeys_edit_page),
    Visit(
        "mfa_edit_webauthn",
        "/accounts/2fa/webauthn/",
        "with errors",
        send_the_passkey_without_a_name,
    ),
    Visit("mfa_remove_webauthn", "/accounts/2fa/webauthn/", "", open_the_passkeys_remove_page),
    Visit("account_reauthenticate", "/accounts/reauthenticate/", "the other ways offered"),
    Visit("mfa_reauthenticate", "/accounts/2fa/reauthenticate/"),
    Visit(
        "mfa_reauthenticate",
        "/accounts/2fa/reauthenticate/",
        "a wrong code",
        send_a_wrong_code_to_reauthenticate,
    ),
    Visit("mfa_reauthenticate_webauthn", "/accounts/2fa/webauthn/reauthenticate/"),
)

UNGUARDED_STAFF_PAGES = (
    Visit("mfa_index", "/admin/", "support staff without a second factor, sent by the admin"),
    Visit(
        "mfa_reauthenticate",
        "/admin/",
        "support staff who set up an app after signing in, sent by the admin",
        set_up_an_app_after_signing_in,
    ),
)

STAFF_PAGES = (
    Visit("admin:index", "/admin/"),
    Visit("admin:privacy_deletionrequest_changelist", "/admin/privacy/deletionrequest/"),
    Visit("admin:privacy_deletionrequest_change", "/admin/privacy/deletionrequest/{received}/"),
    Visit(
        "admin:privacy_deletionrequest_verify", "/admin/privacy/deletionrequest/{received}/verify/"
    ),
    Visit(
        "admin:privacy_deletionrequest_reject", "/admin/privacy/deletionrequest/{received}/reject/"
    ),
    Visit(
        "admin:privacy_deletionrequest_schedule",
        "/admin/privacy/deletionrequest/{verified}/schedule/",
    ),
    Visit("admin:privacy_deletionrequest_open", "/admin/privacy/deletionrequest/open/"),
    Visit("admin:accounts_user_changelist", "/admin/accounts/user/"),
    Visit("admin:accounts_user_change", "/admin/accounts/user/{person}/change/"),
    Visit("admin:accounts_user_terminate", "/admin/accounts/user/{person}/terminate/"),
    Visit("admin:accounts_user_under_13", "/admin/accounts/user/{person}/under-13/"),
    Visit("admin:privacy_termination_changelist", "/admin/privacy/termination/"),
    Visit("admin:privacy_termination_change", "/admin/privacy/termination/{termination}/change/"),
    Visit("admin:privacy_auditevent_changelist", "/admin/privacy/auditevent/"),
    Visit("admin:privacy_serviceprovider_changelist", "/admin/privacy/serviceprovider/"),
    Visit(
        "admin:privacy_serviceprovider_change",
        "/admin/privacy/serviceprovider/{service_provider}/change/",
        "support may only read it",
    ),
    Visit("admin:support_ticket_changelist", "/admin/support/ticket/"),
    Visit("admin:support_ticket_change", "/admin/support/ticket/{ticket}/change/"),
    Visit("admin:support_ticket_answer", "/admin/support/ticket/{ticket}/answer/"),
    Visit("admin:support_ticket_convert", "/admin/support/ticket/{ticket}/convert/"),
    Visit(
        "admin:support_ticket_convert",
        "/admin/support/ticket/{under_13_ticket}/convert/",
        "an under-13 report",
    ),
    Visit(
        "admin:privacy_termination_legal_hold",
        "/admin/privacy/termination/{termination}/legal-hold/",
        "support may not: the 403 page",
        status=403,
    ),
)

ADMINISTRATOR_PAGES = (
    Visit(
        "admin:privacy_termination_legal_hold",
        "/admin/privacy/termination/{termination}/legal-hold/",
    ),
    Visit("admin:catalog_languagemodel_changelist", "/admin/catalog/languagemodel/"),
    Visit(
        "admin:privacy_serviceprovider_change",
        "/admin/privacy/serviceprovider/{service_provider}/change/",
    ),
)

# While an operator has configured analytics: the notice offers the choice, the cookies
# page holds it, and (never accepted here) nothing is loaded from the analytics origin.
ANALYTICS_VISITOR_PAGES = (
    Visit("home", "/", "the cookie notice offers analytics"),
    Visit("cookie_list", "/legal/cookies/", "the analytics choice"),
    Visit("service_providers", "/legal/service-providers/", "with analytics configured"),
)


# --- Signing in, one function each -------------------------------------------------------


def enter_as_visitor(page: Page, world: dict) -> None:
    # A browser wallet too: the wallet pages show both ways to sign.
    install_browser_wallet(page, NEW_WALLET)
    page.route("**/__error__/*/", serve_error_page)


# The error pages a browser cannot be made to meet cheaply and safely, as their
# handlers render them (allauth answers a rate limit with the 429.html template).
_ERROR_PAGES = {
    400: lambda request: portal_views.bad_request(request, SuspiciousOperation()),
    429: lambda request: render(request, "429.html", status=429),
    500: portal_views.server_error,
}


def serve_error_page(route: Route, request) -> None:
    """/__error__/<status>/ answers with the portal's page for that status, under the
    Content-Security-Policy the portal sends."""
    status = int(request.url.rstrip("/").rsplit("/", 1)[1])
    django_request = RequestFactory().get("/")
    django_request.user = AnonymousUser()
    response = _ERROR_PAGES[status](django_request)
    policy = route.fetch(url=request.url.split("/__error__/")[0] + "/").headers[
        "content-security-policy"
    ]
    route.fulfill(
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": policy},
        body=response.content,
    )


def enter_as_visitor_offered_analytics(page: Page, world: dict) -> None:
    settings = world["settings"]
    settings.PORTAL_ANALYTICS_PROVIDER = "plausible"
    settings.PORTAL_ANALYTICS_SITE_ID = "portal.example.org"
    settings.PORTAL_ANALYTICS_ORIGIN = "https://stats.example.org"


def enter_as_member(page: Page, world: dict) -> None:
    sign_in(page, world["member_email"], DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account/$"))
    read_the_cookie_notice(page)


def enter_as_noticed_member(page: Page, world: dict) -> None:
    sign_in(page, world["noticed_email"], DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account/$"))


def enter_as_wallet_member(page: Page, world: dict) -> None:
    install_browser_wallet(page, WALLET)
    page.goto("/accounts/wallet/login/")
    page.get_by_role("button", name="Sign in with my wallet").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    read_the_cookie_notice(page)


def enter_as_guarded_member(page: Page, world: dict) -> None:
    add_virtual_authenticator(page)
    sign_in(page, world["guarded_email"], DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account/$"))
    read_the_cookie_notice(page)


def enter_as_unguarded_staff(page: Page, world: dict) -> None:
    sign_in(page, world["unguarded_staff_email"], DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account/$"))
    read_the_cookie_notice(page)


def enter_the_code(page: Page, secret: str) -> None:
    """The second step of a sign-in: the authenticator app's code."""
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.get_by_label("Code").fill(code_for(secret))
    page.get_by_role("button", name="Sign In", exact=True).click()


def sign_in_to_the_admin(page: Page, staff: User) -> None:
    """Staff sign in to the admin where everyone signs in, with the password and then
    their authenticator app's code (the one place to change when the admin asks for
    more)."""
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2F$"))
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    secret = authenticator_secret(staff)
    assert secret, f"{staff} has no authenticator app"
    enter_the_code(page, secret)
    expect(page).to_have_url(re.compile(r"/admin/$"))


def enter_as_staff(page: Page, world: dict) -> None:
    sign_in_to_the_admin(page, User.objects.get(pk=world["staff"]))
    read_the_cookie_notice(page)


def enter_as_administrator(page: Page, world: dict) -> None:
    sign_in_to_the_admin(page, User.objects.get(pk=world["administrator"]))
    read_the_cookie_notice(page)


def read_the_cookie_notice(page: Page) -> None:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    page.context.add_cookies([{"name": NOTICE_COOKIE, "value": "1", "url": origin}])


@dataclass(frozen=True)
class Audience:
    name: str
    enter: Callable[[Page, dict], None]
    pages: tuple[Visit, ...]


AUDIENCES = (
    Audience("visitor", enter_as_visitor, VISITOR_PAGES),
    Audience(
        "visitor offered analytics", enter_as_visitor_offered_analytics, ANALYTICS_VISITOR_PAGES
    ),
    Audience("member", enter_as_member, MEMBER_PAGES),
    Audience("member with notices", enter_as_noticed_member, NOTICED_PAGES),
    Audience("wallet member", enter_as_wallet_member, WALLET_MEMBER_PAGES),
    Audience("member setting up second factors", enter_as_guarded_member, GUARDED_MEMBER_PAGES),
    Audience(
        "support staff without a second factor", enter_as_unguarded_staff, UNGUARDED_STAFF_PAGES
    ),
    Audience("support staff", enter_as_staff, STAFF_PAGES),
    Audience("administrator", enter_as_administrator, ADMINISTRATOR_PAGES),
)

# Named URL patterns that are not pages a person reads, and why.
NOT_PAGES = {
    "healthz": "a status answer for the load balancer",
    "wallet_nonce": "JSON for static/js/wallet.js",
    "account_security_notices_dismiss": "POST only: the notices' “It was me”",
    "account_wallet_add": "POST only: answers with the wallets page",
    "account_wallet_remove": "POST only: answers with the wallets page",
    "account_key_rename": "POST only: answers with the key's page",
    "account_key_logging": "POST only: answers with the key's page",
    "account_key_rules": "POST only: answers with the key's page",
    "account_data_download": "a JSON file to download",
    "account_activity_csv": "a CSV file to download",
    "account_deletion_request_cancel": "POST only: answers with the data page",
    "account_privacy_retention": "POST only: answers with the privacy page",
    "account_activity_delete_text": "POST only: answers with the request's page",
    "cookie_notice_read": "POST only: the cookie notice's OK",
    "cookie_consent": "POST only: accept or refuse analytics (the notice, the cookies page)",
    "terms_acknowledge": "POST only: the terms notice's “I have read them”",
    "privacy_policy_acknowledge": "POST only: the policy notice's “I have read it”",
    "account_confirm_login_code": "sign-in by code is off: it redirects to the sign-in page",
    "account_confirm_reauthentication_code": (
        "shown only once a code was sent; sign-in by code is off, so it redirects"
    ),
    "mfa_download_recovery_codes": "a text file to download",
    "mfa_login_webauthn": (
        "the sign-in page's passkey button posts here (JSON for its script); a browser's"
        " GET is sent to the sign-in page"
    ),
}
# The admin's own pages for each model (list, add, change, delete, history) and the
# site's are Django's; those the portal adds (support steps) are swept or excused.
_DJANGO_ADMIN = re.compile(
    r"^admin:(index|login|logout|password_change(_done)?|autocomplete|jsi18n|view_on_site"
    r"|app_list|\w+_(changelist|add|change|delete|history)|auth_user_password_change)$"
)


# --- The data the pages show ---------------------------------------------------------------


@pytest.fixture
def world(monkeypatch, settings) -> dict:
    """Accounts and records in the states the pages show, as ids and strings for the
    visits' paths. Purges and notices are not started (nothing here needs a worker)."""
    monkeypatch.setattr(tasks, "enqueue_purge", lambda *args, **kwargs: None)
    monkeypatch.setattr(tasks, "enqueue_notice", lambda *args, **kwargs: None)
    load_demo_catalog()
    model = LanguageModel.objects.order_by("author", "slug").first()

    member = UserFactory(email="member@example.com", display_name="Ada Lovelace")
    EmailAddress.objects.create(user=member, email="second@example.com", verified=False)
    api_key = ApiKeyFactory(user=member, name="My app")
    never_logged = ApiKeyFactory(user=member, name="Never logged", logging="never")
    with_text = ingest_numbered(api_key, count=3, prompt="Summarise the heron survey")
    without_text = ingest_numbered(never_logged, count=1, prompt="Kept nowhere")
    failed = GenerationFactory(api_key=never_logged, failed=True)
    do_set_logging_preferences(user=member, acting_user=member, changes={"allow_retention": False})
    do_delete_stored_prompts(
        user=member, acting_user=member, older_than=timezone.now() - dt.timedelta(days=7)
    )

    noticed = UserFactory(
        email="noticed@example.com", policy_acknowledged="", terms_acknowledged=False
    )
    notice = SecurityNotice.objects.create(user=noticed, kind=SecurityNotice.Kind.PASSWORD_CHANGED)
    User.objects.filter(pk=noticed.pk).update(security_notice_at=notice.created_at)

    WalletUserFactory(wallet=WALLET, display_name="Wallet Owner")

    signed_up = UserFactory(email="signed-up@example.com", verified=False)
    confirmation = EmailConfirmation.create(signed_up.emailaddress_set.get())
    confirmation.sent = timezone.now()
    confirmation.save()

    guarded = UserFactory(email="guarded@example.com", display_name="Grace Hopper")
    app_user = UserFactory(email="app-user@example.com")
    app_user_secret = give_authenticator_app(app_user)

    staff = make_support_member()
    staff.set_password(STAFF_PASSWORD)
    staff.save(update_fields=["password"])
    give_authenticator_app(staff)
    administrator = make_superuser()
    administrator.set_password(STAFF_PASSWORD)
    administrator.save(update_fields=["password"])
    give_authenticator_app(administrator)
    unguarded_staff = make_support_member()
    person = UserFactory(email="person@example.com")
    ApiKeyFactory(user=person)
    received = do_request_deletion(user=person, acting_user=person, scope="account", origin="user")
    other = UserFactory(email="other@example.com")
    verified = do_request_deletion(user=other, acting_user=None, scope="prompts", origin="support")
    do_verify_deletion_request(
        deletion_request=verified,
        acting_user=administrator,
        verification_method=DeletionRequest.VerificationMethod.EMAIL_REPLY,
    )
    seed_service_providers()
    terminated = UserFactory(email="terminated@example.com")
    termination = do_terminate_account(
        user=terminated,
        acting_user=administrator,
        reason_category="terms_breach",
        reason="Resold API keys.",
        notice_text="Your account is closed for a breach of the Terms of Service.",
    )
    ticket = do_file_ticket(
        kind="delete_prompts", email=person.email, message="Please delete them.", user=None
    )
    under_13_ticket = do_file_ticket(
        kind="under_13", email="parent@example.com", message="My child's account.", user=None
    )
    return {
        "ticket": ticket.pk,
        "under_13_ticket": under_13_ticket.pk,
        "member_email": member.email,
        "noticed_email": noticed.email,
        "model": f"{model.author}/{model.slug}",
        "policy_version": CURRENT.version,
        "terms_version": CURRENT_TERMS.version,
        "service_provider": ServiceProvider.objects.order_by("position", "pk").first().pk,
        "settings": settings,
        "key": api_key.pk,
        "generation_with_text": Generation.objects.get(gateway_id=with_text[0]).pk,
        "generation_without_text": Generation.objects.get(gateway_id=without_text[0]).pk,
        "failed_generation": failed.pk,
        "confirmation_key": confirmation.key,
        "reset_key": f"{user_pk_to_url_str(member)}-{default_token_generator.make_token(member)}",
        "wallet": WALLET.address,
        "new_wallet": NEW_WALLET.address,
        "guarded_email": guarded.email,
        "app_user_email": app_user.email,
        "app_user_secret": app_user_secret,
        "staff": staff.pk,
        "unguarded_staff": unguarded_staff.pk,
        "unguarded_staff_email": unguarded_staff.email,
        "administrator": administrator.pk,
        "person": person.pk,
        "received": received.pk,
        "verified": verified.pk,
        "termination": termination.pk,
    }


# --- The checks ----------------------------------------------------------------------------


def page_name(page: Page) -> str:
    """The URL pattern the browser is on ("" for none: the 404 page)."""
    try:
        return resolve(urlsplit(page.url).path).view_name
    except Resolver404:
        return ""


# What makes the page scroll sideways: the outermost elements that stick out past the
# window's right edge, or else the innermost whose text overflows them (a long word),
# leaving out what a scrolling box clips.
_STICKING_OUT = """() => {
  const edge = window.innerWidth + 0.5;
  const clipped = (element) => {
    for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const name = (element) => element.tagName.toLowerCase()
    + (element.id ? `#${element.id}` : "")
    + [...element.classList].map((c) => `.${c}`).join("");
  const all = [...document.body.querySelectorAll("*")].filter((element) => !clipped(element));
  const wide = all.filter((element) => element.getBoundingClientRect().right > edge);
  const outermost = wide.filter((element) => !wide.includes(element.parentElement));
  const spilling = all.filter((element) => element.scrollWidth > element.clientWidth + 1
    && getComputedStyle(element).overflowX === "visible");
  const innermost = spilling.filter(
    (element) => !spilling.some((other) => other !== element && element.contains(other))
  );
  return (outermost.length ? outermost : innermost).slice(0, 5).map(name);
}"""


def overflow(page: Page) -> str | None:
    """Why the page scrolls sideways at its current width, or None if it does not."""
    extra = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if extra <= 0:
        return None
    return f"scrolls sideways by {extra} px: {', '.join(page.evaluate(_STICKING_OUT))}"


def settle(page: Page) -> None:
    """Wait for the CSS transitions a change of colours or width started (the admin's
    links fade to their new colour; axe would measure the colour halfway)."""
    page.evaluate(
        "() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null)))"
    )


def check(page: Page, visit: Visit, world: dict, guard: BrowserGuard) -> list[str]:
    """What is wrong with the page of `visit`, at both widths."""
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(WIDE)
    response = page.goto(visit.path.format(**world))
    assert response is not None
    if visit.then is not None:
        visit.then(page, world)
    page.wait_for_load_state()
    problems = []
    if page_name(page) != visit.name:
        problems.append(f"ended on {page.url} ({page_name(page)!r}), not {visit.name!r}")
    # Light and dark colours (portal.css follows the system's), wide and narrow.
    for scheme, width in (("light", WIDE), ("dark", WIDE), ("light", NARROW)):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size(width)
        settle(page)
        if violations := axe_violations(page):
            where = f"{width['width']} px, {scheme}"
            problems.append(f"at {where}:\n" + describe_violations(violations))
    if why := overflow(page):
        problems.append(f"at {NARROW['width']} px the page {why}")
    if visit.status != 200:  # the page's own error status was the point
        guard.bad_responses[:] = [
            entry for entry in guard.bad_responses if not entry.startswith(f"{visit.status} ")
        ]
        guard.console_errors[:] = [
            entry for entry in guard.console_errors if f"status of {visit.status} " not in entry
        ]
    if browser := guard.problems():
        problems.append(f"browser problems: {browser}")
    guard.forget()
    return problems


@pytest.mark.parametrize("audience", AUDIENCES, ids=[audience.name for audience in AUDIENCES])
def test_every_page_meets_wcag_2_1_aa_and_reflows_at_360_px(
    audience: Audience, page: Page, browser_guard: BrowserGuard, world: dict
):
    audience.enter(page, world)
    browser_guard.assert_clean()
    failures = {}
    for visit in audience.pages:
        if problems := check(page, visit, world, browser_guard):
            failures[f"{visit} at {visit.path}"] = problems
    report = "\n".join(f"{where}:\n" + "\n".join(problems) for where, problems in failures.items())
    assert not failures, f"{len(failures)} page(s) fail:\n{report}"


def _named_patterns(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield namespace + pattern.name, prefix + str(pattern.pattern)


def test_every_named_page_is_swept_or_excused():
    """A page added to the URLconf is swept or excused here, never skipped unseen."""
    swept = {visit.name for audience in AUDIENCES for visit in audience.pages}
    missing = sorted(
        f"{name} ({path})"
        for name, path in _named_patterns(get_resolver().url_patterns)
        if not path.startswith("internal/")
        and not _DJANGO_ADMIN.match(name)
        and name not in swept
        and name not in NOT_PAGES
    )
    assert not missing, f"pages neither swept nor listed in NOT_PAGES: {missing}"
    assert not set(NOT_PAGES) & swept, "a page is both swept and excused"


# --- What axe does not measure on the two-factor pages --------------------------------

# The colour behind an element: its own, or else the nearest ancestor's that is not
# transparent (as "rgb(…)" or "rgba(…)").
_BACKDROP = """(element) => {
  for (let at = element; at; at = at.parentElement) {
    const colour = getComputedStyle(at).backgroundColor;
    if (!/^rgba\\(.*, 0\\)$/.test(colour) && colour !== "transparent") return colour;
  }
  return "rgb(255, 255, 255)";
}"""


def _luminance(colour: str) -> float:
    """WCAG 2.1's relative luminance of a computed "rgb(r, g, b)" colour."""
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", colour)[:3])
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def open_the_app_set_up(page: Page) -> None:
    user = UserFactory()
    sign_in(page, user.email)
    page.goto("/accounts/2fa/totp/activate/")
    confirm_with_the_password(page, {})
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))


def test_the_authenticator_apps_qr_code_shows_dark_on_light_in_dark_colours_too(
    page: Page, browser_guard: BrowserGuard
):
    """The QR code's modules are black on a transparent ground: on the dark scheme's
    page they all but vanish (WCAG 1.4.11 asks 3:1 of a graphic needed to use the page,
    and a phone's scanner needs dark on light). Its text alternative says what it is."""
    open_the_app_set_up(page)
    qr = page.get_by_role("img", name="QR code of the authenticator secret below")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        settle(page)
        backdrop = qr.evaluate(_BACKDROP)
        assert contrast(backdrop, "rgb(0, 0, 0)") >= 3, f"{scheme}: the QR code on {backdrop}"
    browser_guard.assert_clean()


def test_the_authenticator_secret_can_be_focused_copied_and_read_whole_on_a_phone(
    page: Page, browser_guard: BrowserGuard
):
    """The secret is what a person types into an app they cannot scan with: it must
    not be a disabled field (skipped by the keyboard, not selectable) nor cut off at
    the narrowest width, and its explanation is the field's description."""
    open_the_app_set_up(page)
    secret = page.get_by_label("Authenticator secret")
    expect(secret).to_be_enabled()
    expect(secret).not_to_be_editable()
    expect(secret).to_have_accessible_description(re.compile("reinstall your authenticator app"))
    secret.focus()
    expect(secret).to_be_focused()
    selected = secret.evaluate(
        "input => { input.select(); return input.value.slice(input.selectionStart,"
        " input.selectionEnd); }"
    )
    assert re.fullmatch(r"[A-Z2-7]{32}", selected), selected
    for width in (NARROW, {"width": 320, "height": 640}):
        page.set_viewport_size(width)
        cut = secret.evaluate("input => input.scrollWidth - input.clientWidth")
        assert cut <= 0, f"at {width['width']} px {cut} px of the secret are cut off"
    browser_guard.assert_clean()


def test_the_passkey_list_says_which_key_each_action_is_for_and_when_it_was_added(
    page: Page, browser_guard: BrowserGuard
):
    """Every column has a header, each Edit and Remove names its key (a screen reader's
    list of links otherwise reads "Edit, Remove, Edit, Remove"), the table's scrolling
    box is named after it, and dates are written out, not 12/07/2026."""
    user = UserFactory()
    add_virtual_authenticator(page)
    sign_in(page, user.email)
    page.goto("/accounts/2fa/webauthn/add/")
    confirm_with_the_password(page, {})
    page.get_by_label("Name").fill("Work laptop")
    page.get_by_label("Passwordless").check()
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    page.goto("/accounts/2fa/webauthn/")

    box = page.get_by_role("region", name="Your passkeys and security keys")
    headers = box.get_by_role("columnheader")
    expect(headers).not_to_have_count(0)
    for header in headers.all():
        assert header.text_content().strip(), "a column without a header"
    expect(box.get_by_role("link", name="Edit Work laptop")).to_be_visible()
    expect(box.get_by_role("link", name="Remove Work laptop")).to_be_visible()
    today = timezone.localdate()
    expect(box).to_contain_text(f"{today.day} {today:%b %Y}")
    assert_accessible(page)
    browser_guard.assert_clean()


def test_the_other_ways_to_confirm_do_not_run_together(page: Page, browser_guard: BrowserGuard):
    """The confirmation page's alternatives are separate targets with space between
    them, not a run of links that reads as one line of text."""
    user = UserFactory()
    give_authenticator_app(user)
    sign_in(page, user.email)
    enter_the_code(page, authenticator_secret(user))
    page.goto("/accounts/reauthenticate/")
    links = page.locator("main .card h2 ~ * a")
    expect(links).not_to_have_count(0)
    # Between each link's last line box and the next one's first, on the same line.
    gaps = links.first.evaluate("""(first) => {
      const links = [...first.parentElement.querySelectorAll("a")];
      return links.slice(1).map((link, i) => {
        const before = [...links[i].getClientRects()].at(-1);
        const after = link.getClientRects()[0];
        return Math.abs(before.top - after.top) < 2 ? after.left - before.right : null;
      });
    }""")
    assert all(gap is None or gap >= 8 for gap in gaps), f"links on one line, apart by {gaps} px"
    browser_guard.assert_clean()


# --- The checks check ----------------------------------------------------------------

PROBE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>probe</title>
<link rel="stylesheet" href="/static/css/portal.css"></head>
<body><main class="page"><h1>Probe</h1>
<form><input type="text" name="nameless"></form>
<img src="data:," id="no-alt">
<pre class="wide">a line of text that is far too long for a narrow phone, kept unbroken</pre>
</main></body></html>"""


def test_the_checks_name_each_violation_and_what_scrolls_sideways(
    page: Page, browser_guard: BrowserGuard, live_server
):
    """Under the portal's own CSP, axe runs without tripping it (the guard stays clean)
    and says what is wrong and where; the reflow check finds the line that overflows."""
    policy = page.goto("/").headers["content-security-policy"]
    page.route(
        f"{live_server.url}/__probe",
        lambda route: route.fulfill(
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": policy},
            body=PROBE_PAGE,
        ),
    )
    page.goto("/__probe")
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    report = str(failure.value)
    assert "violation(s) at " + live_server.url + "/__probe" in report, report
    for expected in (
        "- label (critical): Form elements must have labels",
        "- image-alt (critical): Images must have alternative text",
        "    #no-alt: Fix any of the following:",
        "dequeuniversity.com/rules/axe/",
    ):
        assert expected in report, report
    page.set_viewport_size(NARROW)
    assert overflow(page) is not None and "pre.wide" in overflow(page), overflow(page)
    page.goto("/")
    assert overflow(page) is None
    assert_accessible(page)
    browser_guard.assert_clean()


# --- Without JavaScript ----------------------------------------------------------------


@pytest.fixture
def no_script_page(browser: Browser, live_server) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=live_server.url, viewport=WIDE, locale="en-GB", java_script_enabled=False
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def assert_reads_without_script(page: Page, path: str) -> None:
    """The page's heading shows, and every form shown has a button to send it."""
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    for form in page.locator("main form:visible").all():
        expect(form.locator("button[type=submit], input[type=submit]").first).to_be_visible()


NO_SCRIPT_VISITOR_PAGES = tuple(
    visit.path
    for visit in VISITOR_PAGES
    if visit.then is None
    and visit.status == 200
    and "{" not in visit.path
    and not visit.name.startswith("admin:")  # Django's pages, not the portal's
)
NO_SCRIPT_MEMBER_PAGES = tuple(
    visit.path for visit in MEMBER_PAGES if visit.then is None and "{" not in visit.path
)


def test_pages_and_key_forms_work_without_javascript(no_script_page: Page, world: dict):
    page = no_script_page
    for path in NO_SCRIPT_VISITOR_PAGES:
        assert_reads_without_script(page, path)

    # Wallet sign-in by hand: the message for an address shows, with the form to sign it.
    page.goto("/accounts/wallet/login/")
    expect(page.locator("[data-wallet-browser]")).to_be_hidden()
    page.get_by_label("Wallet address").fill(NEW_WALLET.address)
    page.get_by_role("button", name="Show the message to sign").click()
    expect(page.get_by_label("Message to sign, exactly as it is")).to_contain_text(
        NEW_WALLET.address
    )
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()

    # Sign-up sent with errors: the server's messages show.
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("new-person@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill("correct-Horse-battery-42")
    page.get_by_label("Password (again)").fill("another-Horse-battery-42")
    page.get_by_role("checkbox", name="I am 13 years of age or older").check()
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_text("You must type the same password each time.")).to_be_visible()

    # The contact form is sent and answered.
    page.goto("/contact/")
    send_a_question(page, world)

    # The cookie notice's OK, then sign in.
    page.goto("/accounts/login/")
    page.get_by_role("complementary", name="Cookies").get_by_role("button", name="OK").click()
    expect(page.get_by_role("complementary", name="Cookies")).to_have_count(0)
    sign_in(page, world["member_email"], DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account/$"))
    for path in NO_SCRIPT_MEMBER_PAGES:
        assert_reads_without_script(page, path)

    # Privacy choices are saved.
    page.goto("/account/privacy/")
    box = page.get_by_role("checkbox", name="Store my prompts and completions")
    expect(box).to_be_checked()
    box.uncheck()
    page.get_by_role("button", name="Save privacy choices").click()
    expect(page.get_by_role("status")).to_have_text("Your privacy choices have been saved.")
    expect(box).not_to_be_checked()


def test_an_authenticator_app_is_set_up_and_signs_in_without_javascript(no_script_page: Page):
    """Passkeys need the browser's WebAuthn API; an authenticator app needs nothing but
    forms: it is set up from the QR code's secret and asked for at sign-in, all with
    JavaScript off."""
    page = no_script_page
    user = UserFactory()
    sign_in(page, user.email)
    expect(page).to_have_url(re.compile(r"/account/$"))
    assert_reads_without_script(page, "/accounts/2fa/")
    page.get_by_role("link", name="Set up an authenticator app").click()
    confirm_with_the_password(page, {})
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(
        page.get_by_role("img", name="QR code of the authenticator secret below")
    ).to_be_visible()
    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(code_for(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    expect(page.get_by_label("Unused codes")).not_to_be_empty()
    sign_out(page)

    sign_in(page, user.email)
    enter_the_code(page, secret)
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
