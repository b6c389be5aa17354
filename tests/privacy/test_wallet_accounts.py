"""The privacy promises hold for an account that signs in with a wallet and has no email
address: its wallet address is personal data (the policy names it) that the person can
download and that deletion erases; support finds it; termination tells it at sign-in."""

from __future__ import annotations

import json

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from django.utils import timezone

from accounts.models import User, Wallet
from privacy import export
from privacy.models import DeletionRequest, Termination
from privacy.termination.terminate import do_terminate_account
from tests.helpers.admin import admin_client, make_support_member
from tests.helpers.privacy import DELETED_URL, MANAGE_URL
from tests.wallets import (
    WALLET_LOGIN_URL,
    TestWallet,
    wallet_login,
    wallet_reauthenticate,
    wallet_signup,
)

pytestmark = pytest.mark.django_db


def wallet_account(display_name: str = "Satoshi") -> tuple[User, TestWallet, Client]:
    wallet = TestWallet.create()
    client = Client()
    response = wallet_signup(client, wallet, display_name=display_name)
    assert response.status_code == 302
    return User.objects.get(wallets__address=wallet.address), wallet, client


def test_the_download_holds_the_wallet_address():
    user, wallet, _ = wallet_account()
    body = b"".join(
        export.data_export(user_id=user.pk, account=str(user.public_id), exported_at=timezone.now())
    )
    records = json.loads(body)["records"]
    (row,) = records["accounts.wallet"]
    assert row["address"] == wallet.address and row["last_used_at"]
    (account,) = records["accounts.user"]
    assert account["email"] is None and account["display_name"] == "Satoshi"


def test_a_wallet_account_deletes_itself_by_typing_its_address_and_is_erased(
    task_queue, run_purge, django_capture_on_commit_callbacks, mailoutbox
):
    user, wallet, client = wallet_account()
    other, other_wallet, _ = wallet_account("Other")
    wallet_reauthenticate(client, wallet, MANAGE_URL)

    wrong = client.post(MANAGE_URL, {"confirmation": "me@example.com"})
    assert wrong.status_code == 200
    assert f"Type {wallet.address} exactly; nothing was deleted" in wrong.text
    assert not DeletionRequest.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        # Any case will do: an address is the same address in any spelling.
        response = client.post(MANAGE_URL, {"confirmation": wallet.address.lower()})
    assert response.status_code == 302 and response["Location"] == DELETED_URL
    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.notice_email == ""
    run_purge()
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Wallet.objects.filter(address=wallet.address).exists()
    assert not UserSession.objects.filter(user_id=user.pk).exists()
    assert mailoutbox == []  # there is no address to write to
    # The other wallet account is untouched, and the erased wallet is a stranger again.
    assert Wallet.objects.get(address=other_wallet.address).user == other
    assert wallet_login(Client(), wallet)["Location"] == "/accounts/wallet/signup/"


def test_a_terminated_wallet_account_is_told_when_it_signs_with_its_wallet(mailoutbox):
    user, wallet, browser = wallet_account()
    notice = "We terminated your account for abusive traffic. Reply to dispute it."
    do_terminate_account(
        user=user,
        acting_user=make_support_member(),
        reason_category=Termination.ReasonCategory.choices[0][0],
        reason="abuse",
        notice_text=notice,
    )
    assert mailoutbox == []
    # Signed out everywhere at once: the wallet's session was listed like any other.
    assert browser.get("/account/")["Location"].startswith("/accounts/login/")
    client = Client()
    shown = wallet_login(client, wallet)
    assert shown.status_code == 200 and notice in shown.text
    assert "_auth_user_id" not in client.session
    # A stranger's signature shows nothing of it.
    assert notice not in Client().get(WALLET_LOGIN_URL).text


def test_support_finds_an_account_by_its_wallet_address():
    user, wallet, _ = wallet_account()
    staff = admin_client(make_support_member())
    listing = staff.get("/admin/accounts/user/", {"q": wallet.address.lower()[2:12]})
    assert listing.status_code == 200
    assert f"/admin/accounts/user/{user.pk}/change/" in listing.text
    assert wallet.address in listing.text
    page = staff.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200 and wallet.address in page.text


def test_support_opens_a_request_for_a_wallet_account_that_wrote_in():
    user, wallet, _ = wallet_account()
    staff = admin_client(make_support_member())
    response = staff.post(
        "/admin/privacy/deletionrequest/open/",
        {"address": f" {wallet.address.lower()} ", "scope": "prompts"},
    )
    assert response.status_code == 302, response.content[:500]
    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.scope == "prompts" and request.notice_email == ""


def test_a_wallet_account_is_not_promised_mail_it_cannot_get(task_queue):
    user, wallet, client = wallet_account()
    wallet_reauthenticate(client, wallet, "/account/data/")
    response = client.post("/account/data/", {"which": "all"}, follow=True)
    assert response.status_code == 200
    assert "This page shows its progress." in response.text
    assert "we email you" not in response.text
