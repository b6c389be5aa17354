"""One support account cannot close or erase anyone (issue 13, item 3).

- Support staff cannot terminate, report as under 13, or open a deletion request for a
  staff or superuser account; only a superuser can (privacy.selectors.account_step_refusal).
- Four eyes: a request support opened and verified is scheduled by someone else.
- A legal hold racing an under-13 report or a cancel is never lost: both lock the
  request's row, and a held request cannot be cancelled.

The actions refuse (so no path gets round the rules); the admin hides the step and says
why, and a POST straight at it is an error message, never a 500.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from accounts.models import User
from privacy.deletion.account import do_delete_account
from privacy.deletion.requests import (
    do_cancel_deletion_request,
    do_delete_stored_prompts,
    do_request_deletion,
    do_schedule_deletion_request,
    do_verify_deletion_request,
)
from privacy.errors import DeletionRequestError, ForbiddenStep, TerminationError
from privacy.models import AuditEvent, DeletionRequest, Termination
from privacy.termination.legal_hold import do_set_legal_hold
from privacy.termination.terminate import do_terminate_account
from privacy.termination.under_13 import do_report_under_13
from tests.factories.accounts import TraceableUserFactory
from tests.helpers.admin import (
    admin_client,
    make_superuser,
    make_support_member,
    messages_of,
    user_list_action,
)
from tests.helpers.services import run_together

pytestmark = pytest.mark.django_db

Status = DeletionRequest.Status
OPEN = "/admin/privacy/deletionrequest/open/"
TERMINATE = {"reason_category": "abuse", "reason": "spam", "notice_text": "You are terminated."}


def request_url(request: DeletionRequest, step: str = "change") -> str:
    return f"/admin/privacy/deletionrequest/{request.pk}/{step}/"


def user_url(user: User, step: str = "change") -> str:
    return f"/admin/accounts/user/{user.pk}/{step}/"


def said(response) -> str:
    return " ".join(messages_of(response))


@pytest.mark.parametrize("kind", ["staff", "superuser"])
def test_support_cannot_terminate_report_or_open_a_deletion_for_a_staff_or_superuser_account(
    kind, task_queue, mailoutbox, django_capture_on_commit_callbacks
):
    member = make_support_member()
    target = make_support_member() if kind == "staff" else make_superuser()
    client = admin_client(member)

    # The account's page offers none of the steps, and says why.
    page = client.get(user_url(target))
    assert page.status_code == 200
    for step in ("terminate", "under-13"):
        assert user_url(target, step) not in page.text
    assert f"{OPEN}?account={target.pk}" not in page.text
    assert "Only a superuser can terminate" in page.text
    # The list action and the step pages send them back with the reason...
    response = user_list_action(client, "terminate_account", target, follow=True)
    assert "only a superuser can terminate a staff or superuser account" in said(response)
    for step, verb in (("terminate", "terminate"), ("under-13", "report as under 13")):
        response = client.get(user_url(target, step), follow=True)
        assert response.redirect_chain[-1][0] == user_url(target)
        assert f"only a superuser can {verb} a staff" in said(response)
    # ...and a POST straight at a step is refused by the action: a message, not a 500.
    response = client.post(user_url(target, "terminate"), TERMINATE, follow=True)
    assert response.status_code == 200
    assert "Nothing was changed: only a superuser can terminate" in said(response)
    response = client.post(user_url(target, "under-13"), {"confirm": "on"}, follow=True)
    assert "Nothing was changed: only a superuser can report as under 13" in said(response)
    response = client.post(OPEN, {"address": target.email, "scope": "account"}, follow=True)
    assert "only a superuser can open a deletion request for a staff" in said(response)
    # Every action refuses, whoever calls it.
    with pytest.raises(ForbiddenStep):
        do_terminate_account(user=target, acting_user=member, **TERMINATE)
    with pytest.raises(ForbiddenStep):
        do_report_under_13(user=target, acting_user=member)
    for scope in ("prompts", "account"):
        with pytest.raises(ForbiddenStep):
            do_request_deletion(user=target, acting_user=member, scope=scope, origin="support")
    with pytest.raises(ForbiddenStep):
        do_delete_account(user=target, acting_user=member)
    with pytest.raises(ForbiddenStep):
        do_delete_stored_prompts(user=target, acting_user=member)

    target.refresh_from_db()
    assert target.is_active and target.has_usable_password()
    assert not DeletionRequest.objects.filter(user_id=target.pk).exists()
    assert not Termination.objects.exists() and not AuditEvent.objects.exists()
    assert mailoutbox == [] and task_queue.purges == []

    # A request a superuser opened about the account: support cannot move it either.
    boss = make_superuser()
    opened = do_request_deletion(user=target, acting_user=boss, scope="prompts", origin="support")
    page = client.get(request_url(opened))
    assert request_url(opened, "verify") not in page.text
    assert "only a superuser can verify a request about a staff" in page.text
    response = client.post(
        request_url(opened, "verify"), {"verification_method": "email_reply"}, follow=True
    )
    assert "Nothing was changed: only a superuser can verify" in said(response)
    assert DeletionRequest.objects.get(pk=opened.pk).status == Status.RECEIVED

    # A superuser may act on anyone: here, through the same admin pages.
    boss_client = admin_client(boss)
    assert user_url(target, "terminate") in boss_client.get(user_url(target)).text
    with django_capture_on_commit_callbacks(execute=True):
        response = boss_client.post(user_url(target, "terminate"), TERMINATE, follow=True)
    assert "is terminated" in said(response)
    target.refresh_from_db()
    assert not target.is_active
    assert Termination.objects.get(user_id=target.pk).terminated_by_id == boss.pk


def test_one_support_member_cannot_open_verify_and_schedule_a_deletion_alone(
    task_queue, django_capture_on_commit_callbacks
):
    person = TraceableUserFactory()
    first, second = make_support_member(), make_support_member()
    client = admin_client(first)
    client.post(OPEN, {"address": person.email, "scope": "account"})
    request = DeletionRequest.objects.get(user_id=person.pk)
    assert request.origin == DeletionRequest.Origin.SUPPORT
    client.post(request_url(request, "verify"), {"verification_method": "email_reply"})
    request.refresh_from_db()
    assert request.status == Status.VERIFIED and request.verified_by_id == first.pk

    # The one who opened and verified it is not offered "Schedule", and is told why.
    page = client.get(request_url(request))
    assert request_url(request, "schedule") not in page.text
    assert "another member of staff (or a superuser) schedules it" in page.text
    response = client.get(request_url(request, "schedule"), follow=True)
    assert "you opened and verified this request" in said(response)
    response = client.post(request_url(request, "schedule"), follow=True)
    assert response.status_code == 200
    assert "Nothing was changed: you opened and verified this request" in said(response)
    with pytest.raises(ForbiddenStep):
        do_schedule_deletion_request(deletion_request=request, acting_user=first)
    # Nor can they do all three steps at once for someone else.
    with pytest.raises(ForbiddenStep):
        do_delete_account(user=person, acting_user=first)
    request.refresh_from_db()
    person.refresh_from_db()
    assert request.status == Status.VERIFIED and person.is_active
    assert task_queue.purges == []

    # A second member of staff schedules it.
    other = admin_client(second)
    assert request_url(request, "schedule") in other.get(request_url(request)).text
    with django_capture_on_commit_callbacks(execute=True):
        response = other.post(request_url(request, "schedule"), follow=True)
    assert "the purge starts now" in said(response)
    request.refresh_from_db()
    person.refresh_from_db()
    assert request.status == Status.SCHEDULED and request.scheduled_by_id == second.pk
    assert not person.is_active
    assert task_queue.purges == [{"request_id": request.pk, "claim": None, "chunk": 0}]


def test_a_superuser_schedules_a_request_they_opened_and_verified_and_a_person_their_own(
    task_queue, django_capture_on_commit_callbacks
):
    boss = make_superuser()
    person = TraceableUserFactory()
    request = do_request_deletion(user=person, acting_user=boss, scope="prompts", origin="support")
    do_verify_deletion_request(
        deletion_request=request, acting_user=boss, verification_method="email_reply"
    )
    with django_capture_on_commit_callbacks(execute=True):
        do_schedule_deletion_request(deletion_request=request, acting_user=boss)
    assert DeletionRequest.objects.get(pk=request.pk).status == Status.SCHEDULED
    # A member of staff deleting their own data does it as anyone does, from their account.
    staff = make_support_member()
    with django_capture_on_commit_callbacks(execute=True):
        own, _ = do_delete_stored_prompts(user=staff, acting_user=staff)
        account = do_delete_account(user=staff, acting_user=staff)
    assert own.status == account.status == Status.SCHEDULED


# --- A legal hold racing an under-13 report or a cancel -------------------------------


def wait_until_blocked_on(table: str, *, timeout: float = 10) -> bool:
    """Whether a session of this database came to wait for a row lock on `table`."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as watcher:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                [f"%{table}%"],
            ).fetchone()[0]
            if waiting:
                return True
            time.sleep(0.01)
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("first", "second"),
    [("hold", "report"), ("hold", "cancel"), ("report", "hold")],
)
def test_a_legal_hold_racing_an_under_13_report_or_a_cancel_is_never_lost(
    first, second, task_queue
):
    """The first step commits while the second waits on the request's row: a hold set
    first stops the report (or the cancel), which sees it once it gets the lock; a
    report made first leaves nothing to hold, and the hold is refused, never reported
    as set while the purge goes ahead."""
    child = TraceableUserFactory()
    member = make_support_member()
    legal = make_superuser()
    termination = do_terminate_account(user=child, acting_user=member, **TERMINATE)
    request = termination.deletion_request
    assert request.status == Status.SCHEDULED and task_queue.purges == []

    def hold():
        do_set_legal_hold(
            termination=termination, acting_user=legal, hold=True, reason="Preservation order"
        )

    def report():
        do_report_under_13(user=child, acting_user=member, note="a parent wrote")

    def cancel():
        do_cancel_deletion_request(deletion_request=request, acting_user=member)

    steps = {"hold": hold, "report": report, "cancel": cancel}
    locked, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}
    blocked: list[bool] = []

    def run_first():
        try:
            with transaction.atomic():
                steps[first]()
                locked.set()
                # Commit only once the second step waits for this transaction's locks.
                assert release.wait(timeout=30)
            outcomes[first] = "done"
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            outcomes[first] = exc
            locked.set()
        finally:
            connection.close()

    def run_second():
        try:
            assert locked.wait(timeout=30)
            steps[second]()
            outcomes[second] = "done"
        except (TerminationError, DeletionRequestError) as exc:
            outcomes[second] = str(exc)
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            outcomes[second] = exc
        finally:
            connection.close()

    def conductor():
        locked.wait(timeout=30)
        blocked.append(wait_until_blocked_on("privacy_deletionrequest"))
        release.set()

    threads = [threading.Thread(target=f) for f in (run_first, run_second, conductor)]
    run_together(threads, timeout=60, what="the race")
    assert blocked == [True], "the second step never waited for the first one's lock"
    assert outcomes[first] == "done", outcomes

    request.refresh_from_db()
    termination.refresh_from_db()
    if first == "hold":
        # The hold is in force: the report or cancel was refused and changed nothing.
        assert "legal hold" in str(outcomes[second]), outcomes
        assert request.status == Status.SCHEDULED and request.held
        assert termination.legal_hold
        assert not DeletionRequest.objects.filter(user_id=child.pk, origin="under_13").exists()
        assert task_queue.purges == []
        assert User.objects.filter(pk=child.pk).exists()
    else:
        # The report went first: the hold is refused, not recorded as set.
        assert "a legal hold applies only before the purge starts" in str(outcomes["hold"])
        assert request.status == Status.CANCELLED and not request.held
        assert not termination.legal_hold
        report = DeletionRequest.objects.get(user_id=child.pk, origin="under_13")
        assert task_queue.purges == [{"request_id": report.pk, "claim": None, "chunk": 0}]
