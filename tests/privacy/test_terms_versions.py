"""Terms of Service versions and acknowledgements, kept like the privacy policy's: every
version stays readable, the portal records which version each person acknowledged, at
sign-up and on the notice that shows on their pages until they have read the version in
force; the terms say what survives termination (a termination notice cites them:
tests/privacy/test_mail_texts.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.template.loader import get_template
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from privacy import terms
from privacy.models import TermsAcknowledgement
from privacy.terms import UnknownTermsVersion, do_acknowledge_terms
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import signup
from tests.wallets import TestWallet, wallet_signup

pytestmark = pytest.mark.django_db

ACK_URL = "/legal/terms/acknowledge/"
NOTICE = "I have read them"
How = TermsAcknowledgement.How


def test_versions_are_dated_in_order_and_each_has_its_text():
    dates = [version.date for version in terms.VERSIONS]
    assert dates == sorted(set(dates))
    assert terms.VERSIONS[-1] == terms.CURRENT
    for version in terms.VERSIONS:
        text = get_template(version.template).render({})
        assert 'id="termination"' in text and version.changes


def test_the_terms_say_what_survives_termination_as_the_policy_promises():
    """The policy: "all rights and obligations shall cease, except for those that should
    survive termination by their nature, including but not limited to ownership
    provisions, warranty disclaimers, indemnity, and limitations of liability"."""
    page = Client().get("/legal/terms/")
    assert page.status_code == 200
    survival = page.text[page.text.index('id="survival"') :]
    survival = survival[: survival.index("</p>")]
    for kept in ("ownership", "no warranty", "limitation of liability", "indemnity"):
        assert kept in survival, kept
    assert "breach of these terms, with notice to you" in page.text


def test_the_terms_and_each_version_are_readable_and_unknown_ones_are_404():
    page = Client().get("/legal/terms/")
    assert page.status_code == 200
    assert f"Version of {terms.CURRENT.version}" in page.text
    same = Client().get(f"/legal/terms/{terms.CURRENT.version}/")
    assert same.status_code == 200 and "Terms of Service" in same.text
    for version in ("2023-01-01", "latest", "2026-12-07%00", "x" * 300):
        assert Client().get(f"/legal/terms/{version}/").status_code == 404, version


def test_every_page_links_the_terms_and_the_service_providers():
    page = Client().get("/")
    assert 'href="/legal/terms/"' in page.text
    assert 'href="/legal/service-providers/"' in page.text


def unacknowledged() -> User:
    """An account from before the terms were published."""
    return UserFactory(terms_acknowledged=False)


def signed_in(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_email_sign_up_acknowledges_the_terms_in_force():
    assert "Terms of Service" in Client().get("/accounts/signup/").text
    response = signup(Client(), "new@example.com")
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    (acknowledgement,) = user.terms_acknowledgements.all()
    assert (acknowledgement.version, acknowledgement.how) == (terms.CURRENT.version, How.SIGNUP)


def test_wallet_sign_up_acknowledges_the_terms_in_force():
    assert wallet_signup(Client(), TestWallet.create()).status_code == 302
    user = User.objects.get()
    assert user.terms_acknowledgements.get().how == How.SIGNUP


def test_the_notice_shows_until_read_then_records_it_and_goes_back():
    user = unacknowledged()
    client = signed_in(user)
    page = client.get("/account/keys/")
    assert NOTICE in page.text and "Please read our Terms of Service" in page.text
    assert NOTICE not in Client().get("/").text  # never to visitors

    response = client.post(ACK_URL, {"version": terms.CURRENT.version, "next": "/account/keys/"})
    assert response.status_code == 302 and response["Location"] == "/account/keys/"
    assert user.terms_acknowledgements.get().how == How.NOTICE
    assert NOTICE not in client.get("/account/keys/").text
    page = client.get("/legal/terms/")
    assert "You acknowledged this version on" in page.text
    # Again (a second tab): nothing new.
    client.post(ACK_URL, {"version": terms.CURRENT.version})
    assert TermsAcknowledgement.objects.count() == 1


def test_acknowledging_in_another_session_ends_the_notice_in_this_one():
    user = unacknowledged()
    first, second = signed_in(user), signed_in(user)
    assert NOTICE in first.get("/account/").text
    second.post(ACK_URL, {"version": terms.CURRENT.version})
    assert NOTICE not in first.get("/account/").text


@pytest.mark.parametrize(
    "posted",
    [{}, {"version": "2001-01-01"}, {"version": "x" * 1000}, {"version": "2026-12-07\x00"}],
)
def test_an_unknown_version_is_a_clear_error_and_records_nothing(posted):
    user = unacknowledged()
    response = signed_in(user).post(ACK_URL, posted, follow=True)
    assert response.status_code == 200
    assert "That version of the Terms of Service does not exist." in response.text
    assert not TermsAcknowledgement.objects.exists()


def test_acknowledging_goes_back_only_to_this_site():
    client = signed_in(unacknowledged())
    for hostile in ("https://evil.example/", "//evil.example/", "x", "/\nSet-Cookie: a=b"):
        response = client.post(ACK_URL, {"version": terms.CURRENT.version, "next": hostile})
        assert response["Location"] == "/legal/terms/", hostile


def test_acknowledging_needs_a_signed_in_post_with_its_csrf_token():
    assert (
        Client()
        .post(ACK_URL, {"version": terms.CURRENT.version})["Location"]
        .startswith("/accounts/login/")
    )
    user = unacknowledged()
    assert signed_in(user).get(ACK_URL).status_code == 405
    guarded = signed_in(user, enforce_csrf_checks=True)
    assert guarded.post(ACK_URL, {"version": terms.CURRENT.version}).status_code == 403
    assert not TermsAcknowledgement.objects.exists()


def test_a_new_version_shows_what_changed_to_those_who_read_the_old_one(monkeypatch):
    user = UserFactory()  # acknowledged the version in force
    client = signed_in(user)
    assert NOTICE not in client.get("/account/").text
    newer = terms.TermsVersion("2999-01-01", "Section 4 now also covers refunds.")
    monkeypatch.setattr(terms, "VERSIONS", (*terms.VERSIONS, newer))
    monkeypatch.setattr(terms, "CURRENT", newer)
    page = client.get("/account/")  # the same session: what it remembered is now old
    assert NOTICE in page.text and "Section 4 now also covers refunds." in page.text
    client.post(ACK_URL, {"version": newer.version})
    assert NOTICE not in client.get("/account/").text
    assert set(user.terms_acknowledgements.values_list("version", flat=True)) == {
        terms.VERSIONS[0].version,
        newer.version,
    }


def test_the_action_refuses_a_version_never_published():
    with pytest.raises(UnknownTermsVersion):
        do_acknowledge_terms(user=unacknowledged(), version="2001-01-01", how=How.NOTICE)
    assert not TermsAcknowledgement.objects.exists()


def test_once_read_the_notice_costs_no_query_for_the_rest_of_the_session():
    client = signed_in(UserFactory())
    client.get("/account/")  # the first page finds the acknowledgement
    with CaptureQueriesContext(connection) as queries:
        client.get("/account/")
    assert not [q for q in queries.captured_queries if "privacy_termsacknowledgement" in q["sql"]]


def test_acknowledgements_go_with_the_account_and_into_its_download():
    from privacy import registry

    assert TermsAcknowledgement in {entry.model for entry in registry.entries()}


def test_the_notice_goes_back_only_to_pages_that_can_be_got_again():
    """A page drawn in answer to a POST (a form error) cannot be got again: the notice
    then goes back to a default page, not to a 405."""
    from tests.wallets import WALLET_ADD_URL

    client = signed_in(unacknowledged())
    client.post(
        "/accounts/reauthenticate/?next=/account/wallets/",
        {"password": "correct-horse-battery-staple"},
    )
    page = client.post(WALLET_ADD_URL, {"message": "x", "signature": "y"})
    assert page.status_code == 400 and NOTICE in page.text
    assert f'name="next" value="{WALLET_ADD_URL}"' not in page.text
