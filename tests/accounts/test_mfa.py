"""Two-factor sign-in (allauth.mfa) over HTTP: the Security page, signing in with a code
after the password or the wallet, confirming with a code, and the admin, which staff
reach only through allauth's rate-limited sign-in and with a second factor. Codes come
from the secret the page shows, computed as an authenticator app does (tests/mfa.py)."""

from __future__ import annotations

import json

import pytest
from allauth.account.models import EmailAddress, Login
from allauth.core import context
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts.models import SecurityNotice, User, Wallet
from portal.compat import AUTHENTICATION_METHODS_SESSION_KEY, perform_login
from privacy import export
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory, WalletUserFactory
from tests.helpers.accounts import LOGIN_URL, is_signed_in, login, signed_in_user_id
from tests.mfa import (
    MFA_AUTHENTICATE_URL,
    MFA_REAUTHENTICATE_URL,
    SECURITY_URL,
    TOTP_ACTIVATE_URL,
    authenticator_secret,
    code_for,
    give_authenticator_app,
    secret_on_page,
    sign_in_with_code,
    staff_client,
)
from tests.wallets import TestWallet, wallet_login, wallet_reauthenticate

pytestmark = pytest.mark.django_db

REAUTH_URL = "/accounts/reauthenticate/"
WALLET_REAUTH_URL = "/accounts/wallet/reauthenticate/"
ADMIN_PATHS = [
    "/admin/",
    "/admin/login/",
    "/admin/accounts/user/",
    "/admin/privacy/deletionrequest/",
    "/admin/privacy/deletionrequest/open/",
    "/admin/privacy/auditevent/",
    "/admin/no-such-page/",
]


def staff_member(**fields) -> User:
    return UserFactory(is_staff=True, **fields)


def records(client: Client) -> list[dict]:
    return client.session.get(AUTHENTICATION_METHODS_SESSION_KEY, [])


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def activate_totp(client: Client) -> str:
    """Set up an authenticator app on the Security page (already confirmed it is you):
    the secret the page shows, then a code from it. The secret."""
    page = client.get(TOTP_ACTIVATE_URL)
    assert page.status_code == 200, page
    secret = secret_on_page(page.text)
    done = client.post(TOTP_ACTIVATE_URL, {"code": code_for(secret)})
    assert done.status_code == 302, done.content[:2000]
    return secret


# --- The Security page -----------------------------------------------------------------


def test_the_security_page_is_in_the_account_hub_for_email_and_wallet_accounts():
    email_client = Client()
    login(email_client, UserFactory().email)
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    wallet_client = Client()
    wallet_login(wallet_client, wallet)
    for client in (email_client, wallet_client):
        hub = client.get("/account/")
        assert f'href="{SECURITY_URL}">Security</a>' in hub.text
        page = client.get(SECURITY_URL)
        assert page.status_code == 200
        # The hub's layout: its sidebar, with this page marked as the current one.
        assert 'aria-label="Account"' in page.text
        assert f'href="{SECURITY_URL}" aria-current="page">Security</a>' in page.text
        assert "Authenticator app" in page.text and "Passkeys" in page.text


def test_setting_up_an_authenticator_app_needs_a_recent_confirmation_then_a_right_code():
    user = UserFactory()
    client = Client()
    login(client, user.email)
    asked = client.get(TOTP_ACTIVATE_URL)
    assert asked.status_code == 302
    assert asked["Location"].startswith(f"{REAUTH_URL}?next=")
    client.post(f"{REAUTH_URL}?next={TOTP_ACTIVATE_URL}", {"password": DEFAULT_PASSWORD})

    page = client.get(TOTP_ACTIVATE_URL)
    secret = secret_on_page(page.text)
    # The QR code is an image in the page itself (the CSP allows data: images only).
    assert 'src="data:image/svg+xml;base64,' in page.text
    wrong = client.post(TOTP_ACTIVATE_URL, {"code": "000000"})
    assert wrong.status_code == 200 and "Incorrect code." in wrong.text
    assert not Authenticator.objects.filter(user=user).exists()

    done = client.post(TOTP_ACTIVATE_URL, {"code": code_for(secret)})
    assert done.status_code == 302
    assert authenticator_secret(user) == secret
    # Recovery codes come with it, for the day the phone is lost.
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists()


def test_with_an_authenticator_app_the_password_alone_no_longer_signs_in():
    user = UserFactory()
    secret = give_authenticator_app(user)
    client = Client()

    response = login(client, user.email)
    assert response.status_code == 302 and response["Location"] == MFA_AUTHENTICATE_URL
    assert not is_signed_in(client)
    assert client.get("/account/").status_code == 302  # still signed out

    wrong = client.post(MFA_AUTHENTICATE_URL, {"code": "123456"})
    assert wrong.status_code == 200 and "Incorrect code." in wrong.text
    assert not is_signed_in(client)

    right = client.post(MFA_AUTHENTICATE_URL, {"code": code_for(secret)})
    assert right.status_code == 302 and right["Location"] == "/account/"
    assert signed_in_user_id(client) == str(user.pk)
    assert [r["method"] for r in records(client)] == ["password", "mfa"]
    assert UserSession.objects.filter(user=user).exists()


def test_an_authenticator_code_works_once():
    user = UserFactory()
    secret = give_authenticator_app(user)
    first = Client()
    code = code_for(secret)
    login(first, user.email)
    assert first.post(MFA_AUTHENTICATE_URL, {"code": code}).status_code == 302
    replay = Client()
    login(replay, user.email)
    refused = replay.post(MFA_AUTHENTICATE_URL, {"code": code})
    assert refused.status_code == 200 and "Incorrect code." in refused.text
    assert not is_signed_in(replay)


def test_wrong_codes_are_rate_limited_per_account():
    user = UserFactory()
    secret = give_authenticator_app(user)
    client = Client()
    login(client, user.email)
    for _ in range(5):
        client.post(MFA_AUTHENTICATE_URL, {"code": "000000"})
    limited = client.post(MFA_AUTHENTICATE_URL, {"code": code_for(secret)})
    assert "Too many failed login attempts" in limited.text
    assert not is_signed_in(client)


def test_an_account_with_a_second_factor_adds_no_unverified_email_address(mailoutbox):
    user = UserFactory()
    give_authenticator_app(user)
    client = Client()
    sign_in_with_code(client, user)
    client.post(f"{REAUTH_URL}?next=/accounts/email/", {"password": DEFAULT_PASSWORD})
    response = client.post("/accounts/email/", {"action_add": "", "email": "second@example.com"})
    assert "You cannot add an email address to an account protected by two-factor" in (
        response.text
    )
    assert not EmailAddress.objects.filter(email="second@example.com").exists()


# --- Wallet accounts -------------------------------------------------------------------


def test_a_wallet_sign_in_asks_for_the_second_factor_of_an_account_that_has_one():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    secret = give_authenticator_app(user)
    client = Client()

    response = wallet_login(client, wallet, next="/account/keys/")
    assert response.status_code == 302 and response["Location"] == MFA_AUTHENTICATE_URL
    assert not is_signed_in(client)
    assert client.get("/account/").status_code == 302

    done = client.post(MFA_AUTHENTICATE_URL, {"code": code_for(secret)})
    assert done.status_code == 302 and done["Location"] == "/account/keys/"
    assert signed_in_user_id(client) == str(user.pk)
    # What the portal relies on after a wallet sign-in: the session is listed (deletion
    # ends it from there) and the sign-in is recorded as the wallet's, then the code's.
    assert UserSession.objects.filter(user=user, session_key=client.session.session_key).exists()
    assert [(r["method"], r.get("address")) for r in records(client)] == [
        ("wallet", wallet.address),
        ("mfa", None),
    ]


def test_a_wallet_account_without_a_second_factor_still_signs_in_with_its_signature():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = Client()
    response = wallet_login(client, wallet)
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert signed_in_user_id(client) == str(user.pk)
    assert UserSession.objects.filter(user=user, session_key=client.session.session_key).exists()
    assert Wallet.objects.get(user=user).last_used_at is not None


def test_a_wallet_account_sets_up_an_authenticator_app_after_signing_to_confirm(
    django_capture_on_commit_callbacks,
):
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = Client()
    wallet_login(client, wallet)
    asked = client.get(TOTP_ACTIVATE_URL)
    assert asked.status_code == 302 and asked["Location"].startswith(f"{WALLET_REAUTH_URL}?next=")
    wallet_reauthenticate(client, wallet, TOTP_ACTIVATE_URL)
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals after commit
        secret = activate_totp(client)
    assert authenticator_secret(user) == secret
    assert "An authenticator app gives your sign-in codes" in client.get(SECURITY_URL).text
    # The app lists the account by its wallet, what the person signs in with.
    url = get_mfa_adapter().build_totp_url(user, secret)
    assert url.startswith(f"otpauth://totp/{wallet.address}?secret={secret}&issuer=Portal")
    # A new way past the sign-in is told on every page, like a new wallet or password
    # (once: the recovery codes that come with the app are no second notice).
    [notice] = SecurityNotice.objects.filter(user=user)
    assert notice.kind == SecurityNotice.Kind.SECOND_FACTOR_ADDED
    assert notice.subject == "authenticator app"
    assert "A second factor was added" in client.get("/account/").text


def test_a_wallet_account_with_an_authenticator_app_confirms_with_a_code():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    secret = give_authenticator_app(user)
    client = Client()
    wallet_login(client, wallet)
    client.post(MFA_AUTHENTICATE_URL, {"code": code_for(secret)})
    assert signed_in_user_id(client) == str(user.pk)

    asked = client.get("/account/data/")
    assert asked.status_code == 302
    # Signing stays the first way offered; the code is the other.
    assert asked["Location"].startswith(f"{WALLET_REAUTH_URL}?next=")
    page = client.get(asked["Location"])
    assert MFA_REAUTHENTICATE_URL in page.text
    offered = client.get(f"{MFA_REAUTHENTICATE_URL}?next=/account/data/")
    assert offered.status_code == 200 and "Enter an authenticator code" in offered.text
    # Not the password: a wallet account has none that allauth could check.
    assert "Use your password" not in offered.text

    wrong = client.post(f"{MFA_REAUTHENTICATE_URL}?next=/account/data/", {"code": "000000"})
    assert wrong.status_code == 200
    assert client.get("/account/data/").status_code == 302
    confirmed = client.post(
        f"{MFA_REAUTHENTICATE_URL}?next=/account/data/", {"code": code_for(secret)}
    )
    assert confirmed.status_code == 302 and confirmed["Location"] == "/account/data/"
    assert client.get("/account/data/").status_code == 200


def test_an_email_account_confirms_manage_account_with_its_authenticator_app():
    user = UserFactory()
    give_authenticator_app(user)
    client = Client()
    sign_in_with_code(client, user)
    asked = client.get("/account/manage/")
    assert asked.status_code == 302 and asked["Location"].startswith(REAUTH_URL)
    confirmed = client.post(
        f"{MFA_REAUTHENTICATE_URL}?next=/account/manage/",
        {"code": code_for(authenticator_secret(user))},
    )
    assert confirmed["Location"] == "/account/manage/"
    assert client.get("/account/manage/").status_code == 200


def allauth_login(user: User) -> str:
    """Where allauth's sign-in flow takes `user` once a passkey alone has proved who they
    are (allauth.mfa's passwordless sign-in starts the flow exactly so)."""
    request = RequestFactory().get("/")
    SessionMiddleware(lambda r: None).process_request(request)
    request._messages = FallbackStorage(request)
    request.user = AnonymousUser()
    with context.request_context(request):
        response = perform_login(request, Login(user=user))
    return response["Location"]


def test_a_passkey_signs_in_a_wallet_account_that_has_no_address_to_verify():
    assert allauth_login(WalletUserFactory(wallet=TestWallet.create())) == "/account/"


def test_a_passkey_does_not_skip_verifying_an_email_address():
    assert allauth_login(UserFactory(verified=False)) == "/accounts/confirm-email/"
    # An address on the account row alone (an account made by hand) is held too.
    by_hand = UserFactory()
    EmailAddress.objects.filter(user=by_hand).delete()
    assert allauth_login(by_hand) == "/accounts/confirm-email/"


# Malformed passkey credentials, as a broken browser or a forger posts them: fido2 fails
# to parse each in a different way (TypeError, KeyError, ValueError, base64 errors).
FORGED_CREDENTIALS = [
    "",
    "{not json",
    "null",
    "[1, 2]",
    "{}",
    json.dumps({"id": "x", "response": {}}),
    json.dumps({"id": "eA", "rawId": "eA", "type": "public-key", "response": {}}),
    json.dumps(
        {
            "id": "eA",
            "rawId": "eA",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "attestationObject": "ow"},
        }
    ),
    json.dumps(
        {
            "id": "eA",
            "rawId": "eA",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AA"},
        }
    ),
    json.dumps({"id": "eA", "rawId": "eB", "type": "public-key", "response": {}}),
]


@pytest.mark.parametrize("credential", FORGED_CREDENTIALS)
def test_forged_passkeys_sign_nobody_in_add_nothing_and_never_500(credential):
    user = UserFactory()
    give_authenticator_app(user)
    # As the second factor, and alone.
    client = Client()
    login(client, user.email)
    client.get(MFA_AUTHENTICATE_URL)  # the page starts the passkey challenge
    response = client.post(MFA_AUTHENTICATE_URL, {"credential": credential})
    assert response.status_code == 200, response.status_code
    assert not is_signed_in(client)
    alone = Client()
    alone.get("/accounts/2fa/webauthn/login/", headers={"accept": "application/json"})
    response = alone.post("/accounts/2fa/webauthn/login/", {"credential": credential})
    assert response.status_code == 302 and response["Location"] == LOGIN_URL
    assert not is_signed_in(alone)
    # To confirm it is you, and as a new passkey.
    signed_in = Client()
    sign_in_with_code(signed_in, user)
    signed_in.get("/accounts/2fa/webauthn/reauthenticate/")
    response = signed_in.post("/accounts/2fa/webauthn/reauthenticate/", {"credential": credential})
    assert response.status_code in (200, 302), response.status_code
    assert signed_in.get("/account/manage/").status_code == 302  # not confirmed
    signed_in.post(f"{REAUTH_URL}?next=/", {"password": DEFAULT_PASSWORD})
    signed_in.get("/accounts/2fa/webauthn/add/")
    response = signed_in.post("/accounts/2fa/webauthn/add/", {"credential": credential})
    assert response.status_code == 200, response.status_code
    assert not Authenticator.objects.filter(user=user, type=Authenticator.Type.WEBAUTHN).exists()


# --- Personal data ---------------------------------------------------------------------


def test_the_data_download_lists_second_factors_without_their_secrets():
    user = UserFactory()
    secret = give_authenticator_app(user)
    body = b"".join(
        export.data_export(user_id=user.pk, account=str(user.public_id), exported_at=timezone.now())
    )
    doc = json.loads(body)
    (row,) = doc["records"]["mfa.authenticator"]
    assert row["type"] == "totp" and "data" not in row
    assert secret not in body.decode()
    assert doc["left_out"]["mfa.authenticator"]["data"]


# --- The admin -------------------------------------------------------------------------


def admin_sign_in_page(client: Client) -> str:
    """Where the admin sends a signed-out person to sign in (redirects followed)."""
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    return response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"]


def test_the_admin_signs_staff_in_through_the_rate_limited_sign_in():
    staff = staff_member()
    client = Client()
    page = admin_sign_in_page(client)
    assert page.startswith(f"{LOGIN_URL}?next=")
    # allauth's limit for one address: 5 failures in 5 minutes; then even the right
    # password is refused.
    for _ in range(5):
        client.post(page, {"login": staff.email, "password": "wrong-password"})
    refused = client.post(page, {"login": staff.email, "password": DEFAULT_PASSWORD})
    assert refused.status_code == 200
    assert "Too many failed login attempts" in refused.text
    assert not is_signed_in(client)


def test_the_admin_sign_in_answers_429_to_a_flood_from_one_address():
    client = Client()
    page = admin_sign_in_page(client)
    answers = [
        client.post(page, {"login": f"guess{n}@example.com", "password": "x"}).status_code
        for n in range(31)
    ]
    assert answers[:30] == [200] * 30 and answers[30] == 429


def test_the_admins_own_form_signs_nobody_in():
    staff = staff_member()
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL)
    assert not is_signed_in(client)


def test_staff_without_a_second_factor_are_sent_to_set_one_up_from_every_admin_url():
    staff = staff_member(is_superuser=True)
    client = Client()
    login(client, staff.email)
    assert is_signed_in(client)
    for path in ADMIN_PATHS:
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302, (path, response.status_code)
            assert response["Location"] == SECURITY_URL, path
    response = client.get("/admin/")
    assert "need a second factor before the admin opens" in " ".join(flashes(response))
    assert "need a second factor" in client.get(SECURITY_URL).text


def test_staff_who_set_up_a_second_factor_open_the_admin_after_using_it():
    staff = staff_member(is_superuser=True)
    client = Client()
    login(client, staff.email)
    client.post(f"{REAUTH_URL}?next={TOTP_ACTIVATE_URL}", {"password": DEFAULT_PASSWORD})
    secret = activate_totp(client)
    # Signed in before the app was set up: the admin asks for a code from it first.
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == f"{MFA_REAUTHENTICATE_URL}?next=%2Fadmin%2Faccounts%2Fuser%2F"
    confirmed = client.post(response["Location"], {"code": code_for(secret)})
    assert confirmed["Location"] == "/admin/accounts/user/"
    for path in ADMIN_PATHS[:-2]:
        assert client.get(path, follow=True).status_code == 200, path


def test_staff_who_signed_in_with_password_and_code_open_the_admin():
    staff = staff_member(is_superuser=True)
    client = staff_client(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_a_staff_session_without_the_second_factor_is_refused_even_with_one_set_up():
    staff = staff_member(is_superuser=True)
    give_authenticator_app(staff)
    client = Client()
    client.force_login(staff)  # a session that never passed the second factor
    for path in ADMIN_PATHS:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"{MFA_REAUTHENTICATE_URL}?next="), path


def test_the_staff_requirement_is_the_settings_to_turn_off(settings):
    settings.PORTAL_STAFF_REQUIRE_MFA = False
    staff = staff_member(is_superuser=True)
    client = Client()
    login(client, staff.email)
    assert client.get("/admin/").status_code == 200


def test_people_who_are_not_staff_see_no_second_factor_demand_on_the_admin():
    client = Client()
    login(client, UserFactory().email)
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 403


def test_the_admin_shows_which_second_factors_an_account_has_never_their_secrets():
    person = UserFactory()
    secret = give_authenticator_app(person)
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = staff_client(superuser)
    authenticator = Authenticator.objects.get(user=person)

    page = client.get(f"/admin/mfa/authenticator/{authenticator.pk}/change/")

    assert page.status_code == 200
    assert secret not in page.text and "secret" not in page.text.lower()
    assert client.post(f"/admin/mfa/authenticator/{authenticator.pk}/delete/").status_code == 403
    assert Authenticator.objects.filter(pk=authenticator.pk).exists()
