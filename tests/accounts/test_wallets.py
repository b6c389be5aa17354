"""Sign-In with Ethereum (EIP-4361): the promises of the wallet pages, over HTTP, with real
keys signing the portal's own messages."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.test import Client

from accounts import wallets
from accounts.models import User, Wallet
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory, WalletFactory, WalletUserFactory
from tests.helpers.accounts import (
    age_reauthentication,
    is_signed_in,
    login,
    signed_in_user_id,
)
from tests.wallets import (
    NONCE_URL,
    WALLET_ADD_URL,
    WALLET_LOGIN_URL,
    WALLET_REAUTH_URL,
    WALLET_SIGNUP_URL,
    WALLETS_URL,
    TestWallet,
    message_for,
    signed,
    wallet_login,
    wallet_reauthenticate,
)

pytestmark = pytest.mark.django_db


def signed_in_with(wallet: TestWallet) -> Client:
    client = Client()
    response = wallet_login(client, wallet)
    assert response.status_code == 302 and response["Location"] == "/account/", response
    return client


# --- The nonce endpoint (DESIGN.md's contract)


def test_nonce_endpoint_gives_a_fresh_nonce_and_the_exact_message_to_sign():
    client = Client()
    first = client.get(NONCE_URL)
    assert first.status_code == 200
    assert set(first.json()) == {"nonce"}
    assert "no-cache" in first["Cache-Control"]
    wallet = TestWallet.create()
    answer = client.get(NONCE_URL, {"address": wallet.address.lower()}).json()
    assert answer["nonce"] != first.json()["nonce"]
    message = answer["message"]
    assert message.startswith("testserver wants you to sign in with your Ethereum account:\n")
    # The address as given (lower case) comes back in its EIP-55 spelling.
    assert f"\n{wallet.address}\n" in message
    assert f"Nonce: {answer['nonce']}" in message
    assert "URI: http://testserver" in message
    assert wallets.STATEMENTS["login"] in message


@pytest.mark.parametrize(
    "query, status, error",
    [
        ({"address": "0x123"}, 400, "not an Ethereum address"),
        ({"address": "0x" + "g" * 40}, 400, "not an Ethereum address"),
        ({"address": "x" * 5000}, 400, "not an Ethereum address"),
        ({"purpose": "steal"}, 400, "Unknown purpose"),
        ({"purpose": "link"}, 403, "Sign in first"),
        ({"purpose": "reauthenticate"}, 403, "Sign in first"),
    ],
)
def test_nonce_endpoint_bad_requests_get_a_clear_json_error(query, status, error):
    response = Client().get(NONCE_URL, query)
    assert response.status_code == status
    assert error in response.json()["error"]


def test_challenges_are_rate_limited_per_network():
    client = Client()
    answers = [client.get(NONCE_URL).status_code for _ in range(61)]
    assert answers[:60] == [200] * 60 and answers[60] == 429
    assert "wait a minute" in client.get(NONCE_URL).json()["error"]
    page = client.get(WALLET_LOGIN_URL, {"address": TestWallet.create().address})
    assert page.context["message"] is None and "wait a minute" in page.text


def test_nonce_endpoint_answers_only_get():
    assert Client().post(NONCE_URL).status_code == 405


# --- Sign up and sign in


def test_unknown_wallet_signs_up_after_confirming_13_or_older_and_has_no_email():
    client = Client()
    wallet = TestWallet.create()
    response = wallet_login(client, wallet)
    assert response.status_code == 302 and response["Location"] == WALLET_SIGNUP_URL
    assert not is_signed_in(client)
    page = client.get(WALLET_SIGNUP_URL)
    assert wallet.address in page.text and "I am 13 or older" in page.text

    refused = client.post(WALLET_SIGNUP_URL, {"display_name": "Ada"})
    assert refused.status_code == 400
    assert "You must be 13 or older" in refused.text
    assert not User.objects.exists() and not Wallet.objects.exists()

    response = client.post(WALLET_SIGNUP_URL, {"display_name": "Ada", "age_confirmation": "on"})
    assert response.status_code == 302 and response["Location"] == "/account/"
    user = User.objects.get()
    assert user.email is None and not user.has_usable_password()
    assert user.display_name == "Ada" and user.age_confirmed_at is not None
    assert list(user.wallets.values_list("address", flat=True)) == [wallet.address]
    assert signed_in_user_id(client) == str(user.pk)
    # Signed in like any sign-in: the session is listed under Sessions.
    assert UserSession.objects.filter(user=user).count() == 1
    hub = client.get("/account/")
    assert f"Signed in as <strong>{wallet.address}</strong>" in hub.text
    assert "Wallets" in hub.text
    # The pending sign-up is spent: it cannot create a second account.
    client.logout()
    assert client.get(WALLET_SIGNUP_URL)["Location"] == WALLET_LOGIN_URL
    assert User.objects.count() == 1


def test_known_wallet_signs_in_and_its_last_use_is_recorded():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    signed_up_at = Wallet.objects.get().last_used_at
    client = signed_in_with(wallet)
    assert signed_in_user_id(client) == str(user.pk)
    assert Wallet.objects.get().last_used_at > signed_up_at


def test_wallet_sign_in_follows_a_safe_next_and_ignores_another_sites():
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    response = wallet_login(client, wallet, next="/account/keys/")
    assert response["Location"] == "/account/keys/"
    client = Client()
    response = wallet_login(client, wallet, next="https://evil.example/")
    assert response["Location"] == "/account/"


def test_a_new_wallet_keeps_its_next_through_sign_up():
    client = Client()
    next_url = "/account/keys/?a=1&b=2"
    response = wallet_login(client, TestWallet.create(), next=next_url)
    assert response["Location"] == f"{WALLET_SIGNUP_URL}?next=%2Faccount%2Fkeys%2F%3Fa%3D1%26b%3D2"
    page = client.get(response["Location"])
    assert page.context["next"] == next_url
    done = client.post(
        response["Location"], {"age_confirmation": "on", "next": page.context["next"]}
    )
    assert done["Location"] == next_url


def test_signed_in_person_opening_wallet_sign_in_goes_to_their_account():
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    assert client.get(WALLET_LOGIN_URL)["Location"] == "/account/"


def test_inactive_accounts_wallet_does_not_sign_in():
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet, is_active=False)
    client = Client()
    response = wallet_login(client, wallet)
    assert not is_signed_in(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/inactive/"


def test_the_email_and_wallet_pages_link_to_each_other():
    for url in ("/accounts/login/", "/accounts/signup/"):
        assert f'href="{WALLET_LOGIN_URL}"' in Client().get(url).text
    page = Client().get(WALLET_LOGIN_URL)
    assert 'href="/accounts/login/"' in page.text
    assert "/static/js/wallet.js" in page.text  # a file: the CSP allows no inline script


def test_sign_in_by_hand_shows_the_message_for_the_given_address():
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    page = client.get(WALLET_LOGIN_URL, {"address": wallet.address.lower()})
    assert page.status_code == 200
    message = page.context["message"]
    assert wallet.address in message and message in page.content.decode()
    response = client.post(
        WALLET_LOGIN_URL, {"message": message, "signature": wallet.sign(message)}
    )
    assert response.status_code == 302 and is_signed_in(client)
    bad = Client().get(WALLET_LOGIN_URL, {"address": "0xnope"})
    assert bad.status_code == 200 and "not an Ethereum address" in bad.text


# --- What is refused


def test_a_signature_cannot_be_replayed():
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    form = signed(client, wallet)
    assert client.post(WALLET_LOGIN_URL, form).status_code == 302
    client.logout()
    replay = client.post(WALLET_LOGIN_URL, form)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.text
    assert not is_signed_in(client)
    # Nor in another browser, which never had the nonce.
    elsewhere = Client()
    elsewhere.get(NONCE_URL)
    assert elsewhere.post(WALLET_LOGIN_URL, form).status_code == 400


def test_a_nonce_is_spent_once_even_by_two_requests_with_the_same_session():
    """Two requests carrying one session at once both read its nonce before either
    saves the session without it; the shared cache lets only the first through."""
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    form = signed(client, wallet)
    pending = client.session[wallets.NONCE_SESSION_KEY]
    assert client.post(WALLET_LOGIN_URL, form).status_code == 302
    # The second request: a session that still holds the nonce.
    racer = Client()
    session = racer.session
    session[wallets.NONCE_SESSION_KEY] = pending
    session.save()
    racer.cookies["sessionid"] = session.session_key
    response = racer.post(WALLET_LOGIN_URL, form)
    assert response.status_code == 400 and "already used" in response.text
    assert not is_signed_in(racer)


def test_a_signature_by_another_key_is_refused_and_spends_the_nonce():
    wallet, thief = TestWallet.create(), TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    message = message_for(client, wallet.address)
    response = client.post(WALLET_LOGIN_URL, {"message": message, "signature": thief.sign(message)})
    assert response.status_code == 400
    assert "The signature does not match" in response.text
    assert not is_signed_in(client)
    retry = client.post(WALLET_LOGIN_URL, {"message": message, "signature": wallet.sign(message)})
    assert retry.status_code == 400 and not is_signed_in(client)


def _rewritten(message: str, old: str, new: str) -> str:
    assert old in message
    return message.replace(old, new)


def _issued_at(message: str) -> datetime:
    (value,) = re.findall(r"^Issued At: (.+)$", message, re.M)
    return datetime.fromisoformat(value)


def _reissued(message: str, seconds: float) -> str:
    """`message` with its issue time moved by `seconds`."""
    issued = _issued_at(message)
    moved = (issued + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return _rewritten(
        message, f"Issued At: {issued.isoformat().replace('+00:00', 'Z')}", f"Issued At: {moved}"
    )


@pytest.mark.parametrize(
    "rewrite, error",
    [
        # A phishing site's message, with this session's nonce.
        (lambda m: _rewritten(m, "testserver wants", "evil.example wants"), "not ask to sign in"),
        (lambda m: "https://" + m, "not ask to sign in"),
        (
            lambda m: _rewritten(m, "URI: http://testserver", "URI: https://evil.example"),
            "not to this site",
        ),
        # Signed to link a wallet, or for nothing the portal asked.
        (
            lambda m: _rewritten(m, wallets.STATEMENTS["login"], wallets.STATEMENTS["link"]),
            "signed for something else",
        ),
        # Fields the portal never writes, even ones that would not refuse it by themselves.
        (lambda m: m + "\nExpiration Time: 2020-01-01T00:00:00Z", "never writes (Expiration"),
        (lambda m: m + "\nNot Before: 2999-01-01T00:00:00Z", "never writes (Not Before)"),
        (lambda m: m + "\nExpiration Time: 2999-01-01T00:00:00Z", "never writes (Expiration"),
        (lambda m: m + "\nRequest ID: 42", "never writes (Request ID)"),
        (lambda m: m + "\nResources:\n- https://evil.example/grant", "never writes (Resources)"),
        # The chain ID: any EIP-155 chain, and 0 is none.
        (lambda m: _rewritten(m, "Chain ID: 1", "Chain ID: 0"), "no EIP-155 chain"),
        # Read as chain 1, but not the text siwe checks the signature over.
        (lambda m: _rewritten(m, "Chain ID: 1", "Chain ID: 01"), "as the portal writes it"),
        # The issue time: while the challenge was open, give or take a minute.
        (lambda m: _reissued(m, -3600), "not while this signature request was open"),
        (lambda m: _reissued(m, -120), "not while this signature request was open"),
        (lambda m: _reissued(m, +3600), "not while this signature request was open"),
        (lambda m: _reissued(m, +120), "not while this signature request was open"),
    ],
)
def test_a_message_the_portal_did_not_write_is_refused(rewrite, error):
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    message = rewrite(message_for(client, wallet.address))
    response = client.post(
        WALLET_LOGIN_URL, {"message": message, "signature": wallet.sign(message)}
    )
    assert response.status_code == 400
    assert error in response.text
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda m: _rewritten(m, "Chain ID: 1", "Chain ID: 137"), id="Polygon"),
        pytest.param(lambda m: _rewritten(m, "Chain ID: 1", "Chain ID: 42161"), id="Arbitrum"),
        pytest.param(lambda m: _reissued(m, -30), id="a clock 30 s behind"),
        pytest.param(lambda m: _reissued(m, +30), id="a clock 30 s ahead"),
        pytest.param(lambda m: _reissued(m, +0.5), id="issued in milliseconds"),
    ],
)
def test_a_message_on_another_chain_or_from_another_clock_signs_in(rewrite):
    """What README promises: any EIP-155 chain ID, and an issue time within the
    challenge's life give or take a minute."""
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = Client()
    message = rewrite(message_for(client, wallet.address))
    response = client.post(
        WALLET_LOGIN_URL, {"message": message, "signature": wallet.sign(message)}
    )
    assert response.status_code == 302, response.text
    assert signed_in_user_id(client) == str(user.pk)


def test_a_message_for_another_purpose_is_refused():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = Client()
    client.force_login(user)
    message = message_for(client, wallet.address, "reauthenticate")
    client.logout()
    # The session's nonce was for "confirm it is me", not for signing in.
    response = client.post(
        WALLET_LOGIN_URL, {"message": message, "signature": wallet.sign(message)}
    )
    assert response.status_code == 400


def test_an_old_challenge_has_expired(monkeypatch):
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    form = signed(client, wallet)
    later = time.time() + wallets.CHALLENGE_TTL_SECONDS + 1
    monkeypatch.setattr(wallets.time, "time", lambda: later)
    response = client.post(WALLET_LOGIN_URL, form)
    assert response.status_code == 400 and "expired" in response.text


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"message": "", "signature": ""},
        {"message": "hello", "signature": "0x" + "ab" * 65},
        {"message": "x" * 100_000, "signature": "0x" + "ab" * 65},
        {"message": "testserver wants you to sign in", "signature": "0x00"},
        {"message": "a\x00b", "signature": "0x" + "ab" * 65},
        {"signature": "0x" + "ab" * 65},
        {"message": "m"},
        {"message": "m", "signature": "not hex at all"},
        {"message": "m", "signature": "0x" + "ab" * 500},
        {"message": ["a", "b"], "signature": ["c"]},
    ],
)
def test_malformed_posts_get_a_clear_400_and_sign_nobody_in(form):
    client = Client()
    client.get(NONCE_URL)
    response = client.post(WALLET_LOGIN_URL, form)
    assert response.status_code == 400
    assert response.context["error"]
    assert not is_signed_in(client)
    assert not User.objects.exists()


def test_a_body_that_is_not_utf8_is_a_clear_400():
    client = Client()
    client.get(NONCE_URL)
    response = client.post(
        WALLET_LOGIN_URL,
        b"message=%ED%A0%80%FF&signature=0x" + b"ab" * 65,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400 and not is_signed_in(client)


def test_a_valid_looking_signature_that_recovers_nothing_is_refused():
    wallet = TestWallet.create()
    client = Client()
    message = message_for(client, wallet.address)
    for signature in ("0x" + "00" * 65, "0x" + "ff" * 65, "0x" + "ab" * 64 + "1f"):
        message = message_for(client, wallet.address)
        response = client.post(WALLET_LOGIN_URL, {"message": message, "signature": signature})
        assert response.status_code == 400, signature
        assert "The signature does not match" in response.text


def test_wallet_sign_in_is_rate_limited_per_address():
    wallet = TestWallet.create()
    client = Client()
    statuses = [
        client.post(WALLET_LOGIN_URL, {"message": "m", "signature": "s"}).status_code
        for _ in range(32)
    ]
    assert statuses[:30] == [400] * 30
    assert statuses[-1] == 429
    # Still refused with a valid signature until the minute is over.
    assert wallet_login(client, wallet).status_code == 429


def test_signup_race_for_one_wallet_creates_one_account():
    wallet = TestWallet.create()
    first, second = Client(), Client()
    for client in (first, second):
        assert wallet_login(client, wallet)["Location"] == WALLET_SIGNUP_URL
    assert first.post(WALLET_SIGNUP_URL, {"age_confirmation": "on"}).status_code == 302
    late = second.post(WALLET_SIGNUP_URL, {"age_confirmation": "on"}, follow=True)
    assert "already has an account" in late.text
    assert User.objects.count() == 1 and Wallet.objects.count() == 1
    assert not is_signed_in(second)


def test_signup_without_a_signed_wallet_goes_back_to_signing():
    client = Client()
    assert client.get(WALLET_SIGNUP_URL)["Location"] == WALLET_LOGIN_URL
    assert (
        client.post(WALLET_SIGNUP_URL, {"age_confirmation": "on"})["Location"] == WALLET_LOGIN_URL
    )
    assert not User.objects.exists()


def test_signup_display_name_too_long_is_a_form_error():
    client = Client()
    wallet = TestWallet.create()
    wallet_login(client, wallet)
    response = client.post(WALLET_SIGNUP_URL, {"age_confirmation": "on", "display_name": "x" * 81})
    assert response.status_code == 400 and not User.objects.exists()


# --- Wallets on the account


def test_linking_a_wallet_needs_a_recent_confirmation_then_signs_in_too():
    first, second = TestWallet.create(), TestWallet.create()
    user = WalletUserFactory(wallet=first)
    client = signed_in_with(first)
    page = client.get(WALLETS_URL)
    assert first.address in page.text
    assert "first confirm it is you" in page.text
    # Posting anyway asks for the confirmation and links nothing.
    response = client.post(WALLET_ADD_URL, signed(client, second, "link"))
    assert response["Location"].startswith(WALLET_REAUTH_URL)
    assert user.wallets.count() == 1

    confirmed = wallet_reauthenticate(client, first, WALLETS_URL)
    assert confirmed.status_code == 302 and confirmed["Location"] == WALLETS_URL
    assert "first confirm it is you" not in client.get(WALLETS_URL).text
    response = client.post(WALLET_ADD_URL, signed(client, second, "link"))
    assert response.status_code == 302 and response["Location"] == WALLETS_URL
    assert set(user.wallets.values_list("address", flat=True)) == {first.address, second.address}
    assert signed_in_user_id(signed_in_with(second)) == str(user.pk)


def test_a_password_account_links_a_wallet_after_its_password():
    user = UserFactory()
    wallet = TestWallet.create()
    client = Client()
    login(client, user.email)
    client.post(f"/accounts/reauthenticate/?next={WALLETS_URL}", {"password": DEFAULT_PASSWORD})
    response = client.post(WALLET_ADD_URL, signed(client, wallet, "link"))
    assert response["Location"] == WALLETS_URL
    assert user.wallets.get().address == wallet.address
    # Both ways sign in to the one account.
    assert signed_in_user_id(signed_in_with(wallet)) == str(user.pk)


def _confirmed(user: User) -> Client:
    client = Client()
    client.force_login(user)
    client.post(f"/accounts/reauthenticate/?next={WALLETS_URL}", {"password": DEFAULT_PASSWORD})
    return client


def test_a_wallet_linked_elsewhere_or_twice_is_refused_clearly():
    wallet = TestWallet.create()
    owner = WalletUserFactory(wallet=wallet)
    other = UserFactory()
    client = _confirmed(other)
    response = client.post(WALLET_ADD_URL, signed(client, wallet, "link"))
    assert response.status_code == 400
    assert "linked to another account" in response.text
    assert Wallet.objects.get().user == owner

    mine = TestWallet.create()
    assert client.post(WALLET_ADD_URL, signed(client, mine, "link")).status_code == 302
    again = client.post(WALLET_ADD_URL, signed(client, mine, "link"))
    assert again.status_code == 400 and "already linked to your account" in again.text
    assert other.wallets.count() == 1


def test_a_login_signature_cannot_link_a_wallet():
    user = UserFactory()
    wallet = TestWallet.create()
    client = _confirmed(user)
    response = client.post(WALLET_ADD_URL, signed(client, wallet, "login"))
    assert response.status_code == 400 and not Wallet.objects.exists()


def test_the_only_way_to_sign_in_cannot_be_removed():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    wallet_reauthenticate(client, wallet, WALLETS_URL)
    remove_url = f"/account/wallets/{user.wallets.get().pk}/remove/"
    response = client.post(remove_url)
    assert response.status_code == 400
    assert "link another wallet, or add and verify an email address" in response.text
    assert user.wallets.count() == 1


def test_a_password_without_a_verified_address_does_not_count_as_a_way_in():
    """Sign-in is by email: a wallet account that set a password but has no verified
    address would be locked out (and orphaned, its keys still working) without its
    wallet."""
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    wallet_reauthenticate(client, wallet, "/accounts/password/set/")
    password = "violet-otter-quietly-7-lanterns"
    response = client.post(
        "/accounts/password/set/", {"password1": password, "password2": password}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.has_usable_password()
    wallet_reauthenticate(client, wallet, WALLETS_URL)
    response = client.post(f"/account/wallets/{user.wallets.get().pk}/remove/")
    assert response.status_code == 400
    assert "add and verify an email address and set a password" in response.text
    assert user.wallets.count() == 1
    # Nor is the password offered to confirm it is them: allauth could never accept it.
    page = client.get(WALLET_REAUTH_URL)
    assert "Use your password" not in page.text
    client2 = signed_in_with(wallet)
    response = client2.get("/account/manage/")
    assert response["Location"].startswith(WALLET_REAUTH_URL)
    # With a verified address the password signs in, so the wallet may go.
    EmailAddress.objects.create(user=user, email="ada@example.com", verified=True, primary=True)
    User.objects.filter(pk=user.pk).update(email="ada@example.com")
    response = client.post(f"/account/wallets/{user.wallets.get().pk}/remove/")
    assert response.status_code == 302 and not user.wallets.exists()


def test_removing_a_wallet_needs_confirmation_and_then_it_no_longer_signs_in():
    user = UserFactory()
    wallet = TestWallet.create()
    linked = WalletFactory(user=user, address=wallet.address)
    client = Client()
    login(client, user.email)
    remove_url = f"/account/wallets/{linked.pk}/remove/"
    response = client.post(remove_url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert Wallet.objects.exists()
    # allauth replays the removal after the password.
    replayed = client.post(response["Location"], {"password": DEFAULT_PASSWORD})
    assert replayed.status_code == 302 and replayed["Location"] == WALLETS_URL
    assert not Wallet.objects.exists()
    assert wallet_login(Client(), wallet)["Location"] == WALLET_SIGNUP_URL


def test_nobody_removes_another_persons_wallet():
    wallet = TestWallet.create()
    owner = WalletUserFactory(wallet=wallet)
    client = _confirmed(UserFactory())
    response = client.post(f"/account/wallets/{owner.wallets.get().pk}/remove/")
    assert response.status_code == 404
    assert owner.wallets.count() == 1
    assert client.post("/account/wallets/999999/remove/").status_code == 404
    assert client.get(f"/account/wallets/{owner.wallets.get().pk}/remove/").status_code == 405


def test_wallet_pages_need_a_signed_in_person():
    for url in (WALLETS_URL, WALLET_REAUTH_URL):
        assert Client().get(url)["Location"].startswith("/accounts/login/")
    assert Client().post(WALLET_ADD_URL)["Location"].startswith("/accounts/login/")


# --- Confirming it is you with a wallet


def test_a_wallet_account_confirms_sensitive_changes_with_its_wallet():
    wallet, stranger = TestWallet.create(), TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    # Manage account is behind a recent confirmation: a wallet account is sent to sign.
    response = client.get("/account/manage/")
    assert response.status_code == 302
    assert response["Location"] == f"{WALLET_REAUTH_URL}?next=%2Faccount%2Fmanage%2F"
    page = client.get(response["Location"])
    assert wallet.address in page.text
    assert "Use your password" not in page.text

    refused = wallet_reauthenticate(client, stranger, "/account/manage/")
    assert refused.status_code == 400 and "not linked to this account" in refused.text
    assert client.get("/account/manage/").status_code == 302

    confirmed = wallet_reauthenticate(client, wallet, "/account/manage/")
    assert confirmed["Location"] == "/account/manage/"
    page = client.get("/account/manage/")
    assert page.status_code == 200
    assert f"Type <strong>{wallet.address}</strong>" in page.text
    assert "no notice can be sent" in page.text


def test_a_wallet_confirmation_expires_like_a_password_one(settings):
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    wallet_reauthenticate(client, wallet, "/account/manage/")
    assert client.get("/account/manage/").status_code == 200
    age_reauthentication(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1)
    assert client.get("/account/manage/").status_code == 302


def test_the_password_confirmation_page_offers_the_wallet_too():
    user = UserFactory()
    WalletFactory(user=user)
    client = Client()
    login(client, user.email)
    page = client.get("/accounts/reauthenticate/?next=/account/manage/")
    assert "Sign with your wallet" in page.text and WALLET_REAUTH_URL in page.text


def test_the_wallet_confirmation_page_offers_the_password_too():
    user = UserFactory()
    WalletFactory(user=user)
    client = Client()
    login(client, user.email)
    page = client.get(f"{WALLET_REAUTH_URL}?next=/account/manage/")
    assert 'href="/accounts/reauthenticate/?next=%2Faccount%2Fmanage%2F">Use your password</a>' in (
        page.text
    )


def test_wallet_account_pages_show_the_wallet_where_others_show_the_email():
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    profile = client.get("/account/profile/")
    assert profile.status_code == 200 and "has no email address" in profile.text
    for url in ("/account/privacy/", "/account/keys/", "/account/activity/", "/accounts/email/"):
        assert client.get(url).status_code == 200, url


def test_a_wallet_account_can_add_an_email_address():
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    client = signed_in_with(wallet)
    wallet_reauthenticate(client, wallet, "/accounts/email/")
    response = client.post("/accounts/email/", {"action_add": "", "email": "ada@example.com"})
    assert response.status_code == 302, response.content
    assert user.emailaddress_set.get().email == "ada@example.com"
