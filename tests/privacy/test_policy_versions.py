"""Policy versions and acknowledgements: "We may modify this Privacy Policy at any time
without notice. Your continued use of our services after posting changes indicates your
acceptance of these changes." Every version stays readable; the portal records which
version each person acknowledged, at sign-up and on the notice that shows on their
pages until they have read the version in force."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection
from django.template.loader import get_template
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from privacy import context_processors, policy
from privacy.models import PolicyAcknowledgement
from privacy.policy import UnknownPolicyVersion, do_acknowledge_policy
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import signup
from tests.wallets import TestWallet, wallet_signup

pytestmark = pytest.mark.django_db

ACK_URL = "/legal/privacy/acknowledge/"
NOTICE = "I have read it"
How = PolicyAcknowledgement.How


def test_versions_are_dated_in_order_and_each_has_its_text():
    dates = [version.date for version in policy.VERSIONS]
    assert dates == sorted(set(dates))
    assert policy.VERSIONS[-1] == policy.CURRENT
    for version in policy.VERSIONS:
        assert "Privacy Policy" in get_template(version.template).render({})
        assert version.changes


def test_the_policy_and_each_version_are_readable_and_unknown_ones_are_404():
    page = Client().get("/legal/privacy/")
    assert page.status_code == 200
    assert f"Last Updated: {policy.CURRENT.version}" in page.text
    assert "To view the data policy for a specific model provider" in page.text
    same = Client().get(f"/legal/privacy/{policy.CURRENT.version}/")
    assert same.status_code == 200 and "Last Updated" in same.text
    for version in ("2023-01-01", "latest", "2024-10-10%00", "x" * 300):
        assert Client().get(f"/legal/privacy/{version}/").status_code == 404, version


def unacknowledged() -> User:
    """An account from before acknowledgements were recorded."""
    return UserFactory(policy_acknowledged="")


def signed_in(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_email_sign_up_acknowledges_the_policy_in_force():
    response = signup(Client(), "new@example.com")
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.policy_acknowledged == policy.CURRENT.version
    (acknowledgement,) = user.policy_acknowledgements.all()
    assert (acknowledgement.version, acknowledgement.how) == (policy.CURRENT.version, How.SIGNUP)


def test_wallet_sign_up_acknowledges_the_policy_in_force():
    assert wallet_signup(Client(), TestWallet.create()).status_code == 302
    user = User.objects.get()
    assert user.policy_acknowledged == policy.CURRENT.version
    assert user.policy_acknowledgements.get().how == How.SIGNUP


def test_the_notice_shows_until_read_then_records_it_and_goes_back():
    user = unacknowledged()
    client = signed_in(user)
    page = client.get("/account/keys/")
    assert NOTICE in page.text and "Please read our privacy policy" in page.text
    assert NOTICE not in Client().get("/").text  # never to visitors

    response = client.post(ACK_URL, {"version": policy.CURRENT.version, "next": "/account/keys/"})
    assert response.status_code == 302 and response["Location"] == "/account/keys/"
    user.refresh_from_db()
    assert user.policy_acknowledged == policy.CURRENT.version
    assert user.policy_acknowledgements.get().how == How.NOTICE
    assert NOTICE not in client.get("/account/keys/").text
    page = client.get("/legal/privacy/")
    assert "You acknowledged this version on" in page.text
    # Again (a second tab): nothing new.
    client.post(ACK_URL, {"version": policy.CURRENT.version})
    assert PolicyAcknowledgement.objects.count() == 1


@pytest.mark.parametrize(
    "posted",
    [{}, {"version": "2001-01-01"}, {"version": "x" * 1000}, {"version": "2024-10-10\x00"}],
)
def test_an_unknown_version_is_a_clear_error_and_records_nothing(posted):
    user = unacknowledged()
    response = signed_in(user).post(ACK_URL, posted, follow=True)
    assert response.status_code == 200
    assert "That version of the privacy policy does not exist." in response.text
    assert not PolicyAcknowledgement.objects.exists()
    user.refresh_from_db()
    assert user.policy_acknowledged == ""


def test_acknowledging_goes_back_only_to_this_site():
    client = signed_in(unacknowledged())
    response = client.post(
        ACK_URL, {"version": policy.CURRENT.version, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/legal/privacy/"


def test_acknowledging_needs_a_signed_in_post_with_its_csrf_token():
    assert (
        Client()
        .post(ACK_URL, {"version": policy.CURRENT.version})["Location"]
        .startswith("/accounts/login/")
    )
    user = unacknowledged()
    assert signed_in(user).get(ACK_URL).status_code == 405
    guarded = signed_in(user, enforce_csrf_checks=True)
    assert guarded.post(ACK_URL, {"version": policy.CURRENT.version}).status_code == 403
    assert not PolicyAcknowledgement.objects.exists()


def test_a_new_version_shows_what_changed_to_those_who_read_the_old_one(monkeypatch):
    user = UserFactory()  # acknowledged the version in force
    newer = policy.PolicyVersion("2999-01-01", "We now also keep X for Y days.")
    monkeypatch.setattr(policy, "VERSIONS", (*policy.VERSIONS, newer))
    monkeypatch.setattr(policy, "CURRENT", newer)
    client = signed_in(user)
    page = client.get("/account/")
    assert "Our privacy policy changed" in page.text
    assert "We now also keep X for Y days." in page.text
    client.post(ACK_URL, {"version": newer.version})
    user.refresh_from_db()
    assert user.policy_acknowledged == newer.version
    # An older version acknowledged later (a stale tab) never lowers it.
    do_acknowledge_policy(user=user, version=policy.VERSIONS[0].version, how=How.NOTICE)
    user.refresh_from_db()
    assert user.policy_acknowledged == newer.version
    assert NOTICE not in client.get("/account/").text


def test_the_action_refuses_a_version_never_published():
    user = unacknowledged()
    with pytest.raises(UnknownPolicyVersion):
        do_acknowledge_policy(user=user, version="2001-01-01", how=How.NOTICE)
    assert not PolicyAcknowledgement.objects.exists()


def test_the_notice_costs_no_query():
    request_user = unacknowledged()

    @dataclasses.dataclass
    class Request:
        user: User

    with CaptureQueriesContext(connection) as queries:
        assert context_processors.policy_notice(Request(request_user))["policy_notice"]
    assert len(queries) == 0
    read = signed_in(UserFactory())
    unread = signed_in(unacknowledged())
    for url in ("/account/", "/account/privacy/"):
        counts = []
        for client in (read, unread):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts.append(len(queries))
        assert counts[0] == counts[1], url


def test_the_notices_go_back_only_to_pages_that_can_be_got_again():
    """A page drawn in answer to a POST (a form error) cannot be got again: the notices
    then go back to a default page, not to a 405."""
    from tests.wallets import WALLET_ADD_URL

    client = signed_in(unacknowledged())
    client.post(
        "/accounts/reauthenticate/?next=/account/wallets/",
        {"password": "correct-horse-battery-staple"},
    )
    page = client.post(WALLET_ADD_URL, {"message": "x", "signature": "y"})
    assert page.status_code == 400 and NOTICE in page.text
    assert f'name="next" value="{WALLET_ADD_URL}"' not in page.text
