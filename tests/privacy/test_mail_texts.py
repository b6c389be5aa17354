"""The privacy lifecycle's mails, word for word: a rejected request, a completed account
or prompts deletion, a termination notice, and the notice support starts from. The text
is what the person reads, so a template edit that changes a word, a blank line or an
escaped character fails here."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from privacy import terms
from privacy.deletion.account import do_delete_account
from privacy.deletion.requests import (
    do_delete_stored_prompts,
    do_reject_deletion_request,
    do_request_deletion,
)
from privacy.deletion.sweeper import do_sweep_deletion_requests
from privacy.models import DeletionRequest
from privacy.termination.terminate import do_terminate_account, termination_notice_template
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.admin import make_superuser

pytestmark = pytest.mark.django_db

Scope = DeletionRequest.Scope
# Characters HTML would escape: a mail is plain text and must keep them as written.
REASON = "The address & name you gave didn't match <the account's>."


def reject(scope: str):
    user = TraceableUserFactory()
    member = make_superuser()
    request = do_request_deletion(
        user=user, acting_user=member, scope=scope, origin=DeletionRequest.Origin.SUPPORT
    )
    return do_reject_deletion_request(deletion_request=request, acting_user=member, reason=REASON)


def test_a_rejected_account_deletion_mail_gives_the_reason_as_written(mailoutbox):
    request = reject(Scope.ACCOUNT)

    (sent,) = mailoutbox
    assert sent.subject == "[Portal] Your deletion request could not be carried out"
    assert sent.body == (
        "We could not carry out your request to delete your account and its data.\n"
        "\n"
        "Reason: The address & name you gave didn't match <the account's>.\n"
        "\n"
        "Nothing has been deleted. You can make a new request at any time from your "
        "account's settings, or reply to this message if you think this is a mistake.\n"
        "\n"
        f"Reference: deletion_request:{request.pk}\n"
    )


def test_a_rejected_prompts_deletion_mail_names_the_prompts(mailoutbox):
    reject(Scope.PROMPTS)

    (sent,) = mailoutbox
    assert sent.body.startswith(
        "We could not carry out your request to delete your stored prompts and completions.\n"
    )


def test_the_account_deletion_notice_gives_the_counts_and_the_reference(
    run_purge, mailoutbox, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=3, prompt="a prompt")
    ingest_numbered(ApiKeyFactory(user=user, name="other"), count=2, prompt="another prompt")
    with django_capture_on_commit_callbacks(execute=True):
        request = do_delete_account(user=user, acting_user=user)
    run_purge()
    request.refresh_from_db()
    deleted = sum(request.receipt["erased"]["deleted"].values())
    assert deleted >= 4  # the account row, its two keys, its address

    (sent,) = mailoutbox
    assert sent.subject == "[Portal] Your account has been deleted"
    assert sent.body == (
        "Your account and the personal data held about you have been deleted.\n"
        "\n"
        f"Records deleted: {deleted}\n"
        "Stored prompts and completions erased: 5\n"
        "Requests kept only as billing totals (per day, model and provider, in the "
        "anonymous billing ledger; no account, key, app or text): 5\n"
        "\n"
        "You are welcome to sign up again with this address at any time; it would be a "
        "new account.\n"
        "\n"
        f"Reference: deletion_request:{request.pk}\n"
    )


def test_a_terminated_accounts_deletion_notice_says_the_record_is_kept(
    task_queue, run_purge, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        termination = do_terminate_account(
            user=user,
            acting_user=make_superuser(),
            reason_category="abuse",
            reason="abusive traffic",
            notice_text="We ended your account.",
        )
    mailoutbox.clear()
    later = timezone.now() + dt.timedelta(days=settings.PORTAL_TERMINATION_PURGE_DAYS + 1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert do_sweep_deletion_requests().scheduled == [termination.deletion_request_id]
    run_purge()

    (sent,) = mailoutbox
    assert sent.subject == "[Portal] Your account has been deleted"
    assert (
        "Requests kept only as billing totals (per day, model and provider, in the "
        "anonymous billing ledger; no account, key, app or text): 0\n"
        "The record that we terminated the account is kept, anonymised (no account, "
        "reason or notice text): 1\n"
        "\n"
        "You are welcome to sign up again"
    ) in sent.body


def test_the_prompts_deletion_notice_says_the_metadata_is_kept(
    run_purge, mailoutbox, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=4, prompt="a prompt")
    with django_capture_on_commit_callbacks(execute=True):
        request, _ = do_delete_stored_prompts(user=user, acting_user=user)
    run_purge()

    (sent,) = mailoutbox
    assert sent.subject == "[Portal] Your stored prompts and completions have been deleted"
    assert sent.body == (
        "The stored prompts and completions you asked us to delete have been erased.\n"
        "\n"
        "Generations whose text was erased: 4\n"
        "Their billing metadata (model, provider, tokens, cost, time) is kept.\n"
        "\n"
        f"Reference: deletion_request:{request.pk}\n"
    )


def test_the_termination_mail_is_the_notice_as_written_citing_the_terms_with_its_reference(
    task_queue, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.PORTAL_SITE_URL = "https://portal.example"
    user = TraceableUserFactory()
    notice = "You broke the rules & <we> noticed.\n\nReply within 30 days."
    with django_capture_on_commit_callbacks(execute=True):
        termination = do_terminate_account(
            user=user,
            acting_user=make_superuser(),
            reason_category="abuse",
            reason="abusive traffic",
            notice_text=notice,
        )

    (sent,) = mailoutbox
    assert sent.to == [user.email]
    assert sent.subject == "[Portal] Your use of the services has been terminated"
    assert sent.body == (
        f"{notice}\n\n"
        f"This termination is made under the Terms of Service (version of "
        f'{terms.CURRENT.version}), section 10, "Termination", which also says what '
        f"survives it: https://portal.example/legal/terms/{terms.CURRENT.version}/#termination"
        f"\n\nReference: termination:{termination.pk}\n"
    )
    # The link opens the version cited, at the section that says what survives.
    page = Client().get(f"/legal/terms/{terms.CURRENT.version}/")
    assert 'id="termination"' in page.text and "These survive:" in page.text


def test_support_starts_the_termination_notice_from_the_grace_period_in_force(settings):
    settings.PORTAL_TERMINATION_PURGE_DAYS = 45

    assert termination_notice_template(TraceableUserFactory()) == (
        "Hello,\n\n"
        "We have terminated your use of the Portal's services, effective immediately, "
        "under the Termination section of our Privacy Policy and section 10 of our Terms of "
        "Service.\n\n"
        "Reason: [describe the breach or other reason in words the person understands]\n\n"
        "Your API keys no longer work and you can no longer sign in. Your account and "
        "its personal data will be deleted after 45 days; billing records are kept "
        "anonymised.\n\n"
        "If you believe this is a mistake, reply to this message within that time.\n"
    )
