"""Every mail the portal sends comes from a no-reply sender with the support address as
its Reply-To (portal/contact.py): allauth's account mails, the privacy lifecycle's
notices and support's own. tests/conftest.py checks it for every mail of every test;
this walks one of each kind under a configured address."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from privacy.deletion.requests import do_reject_deletion_request, do_request_deletion
from privacy.termination.terminate import do_terminate_account
from support.actions import do_answer_ticket, do_file_ticket
from tests.factories.accounts import TraceableUserFactory
from tests.helpers.accounts import signup
from tests.helpers.admin import make_superuser

pytestmark = pytest.mark.django_db

SUPPORT = "help@portal.example"


def test_every_kind_of_mail_replies_to_the_configured_support_address(
    settings, django_capture_on_commit_callbacks
):
    settings.PORTAL_SUPPORT_EMAIL = SUPPORT
    client = Client()
    # allauth: the sign-up's confirmation link, a password reset (known and unknown).
    signup(client, "new.person@example.com")
    person = TraceableUserFactory()
    client.post("/accounts/password/reset/", {"email": person.email})
    client.post("/accounts/password/reset/", {"email": "unknown@example.com"})
    # The privacy lifecycle: a rejection, a termination notice.
    staff = make_superuser()
    request = do_request_deletion(user=person, acting_user=person, scope="prompts", origin="user")
    do_reject_deletion_request(deletion_request=request, acting_user=staff, reason="Not you.")
    with django_capture_on_commit_callbacks(execute=True):
        do_terminate_account(
            user=TraceableUserFactory(),
            acting_user=staff,
            reason_category="abuse",
            reason="Spam.",
            notice_text="Your account is terminated.",
        )
    # Support: a ticket's confirmation and its answer.
    with django_capture_on_commit_callbacks(execute=True):
        ticket = do_file_ticket(kind="question", email="q@example.com", message="?", user=None)
    do_answer_ticket(ticket=ticket, acting_user=staff, answer="Like this.")

    subjects = [message.subject for message in mail.outbox]
    assert len(mail.outbox) == 7, subjects
    for message in mail.outbox:
        assert message.reply_to == [SUPPORT], message.subject
        assert message.from_email == settings.DEFAULT_FROM_EMAIL
        assert message.message()["Reply-To"] == SUPPORT
    # The conftest check runs after `settings` is restored to the default address.
    mail.outbox.clear()


def test_the_check_on_every_test_fails_for_a_mail_without_reply_to():
    from django.core.mail import EmailMessage

    from tests.helpers.mail import assert_replies_to_support

    assert_replies_to_support(
        [EmailMessage("s", "b", to=["a@example.com"], reply_to=[settings_support()])]
    )
    with pytest.raises(AssertionError, match="has Reply-To"):
        assert_replies_to_support([EmailMessage("s", "b", to=["a@example.com"])])


def settings_support() -> str:
    from django.conf import settings

    return settings.PORTAL_SUPPORT_EMAIL
