"""Reads about deletion requests that more than one caller needs, and their plain-words
summaries for the account pages (/account/data/, /account/manage/).

Every read is scoped to one user: another user's request is simply not found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.apps import apps

from accounts.models import User
from logging_prefs.models import Generation
from privacy.models import DeletionRequest

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope

# How many finished requests /account/data/ lists; older ones stay in the audit trail.
PAST_REQUESTS_LIMIT = 20

# What each status means to the person who asked, in their words.
STATUS_EXPLAINED = {
    Status.RECEIVED: "waiting for us to verify it is you.",
    Status.VERIFIED: "waiting to be scheduled.",
    Status.SCHEDULED: "erasing starts within minutes.",
    Status.RUNNING: "erasing now, in small batches.",
    Status.COMPLETED: "everything this request covered is erased.",
    Status.REJECTED: "nothing was erased.",
    Status.CANCELLED: "nothing more will be erased.",
}

# The registry's kinds ("app_label.model") as a person would name them. Anything not
# listed falls back to the model's verbose name.
_KIND_NAMES = {
    "logging_prefs.generation": "requests (generations)",
    "logging_prefs.loggingpreference": "privacy settings",
    "logging_prefs.preferencechange": "privacy setting changes",
    "accounts.user": "account",
    "accounts.apikey": "API keys",
    "account.emailaddress": "email addresses",
    "account.emailconfirmation": "email confirmations",
    "usersessions.usersession": "sign-in sessions",
    "sessions.session": "browser sessions",
    "admin.logentry": "admin history entries",
}


def kind_name(kind: str) -> str:
    if kind in _KIND_NAMES:
        return _KIND_NAMES[kind]
    try:
        return str(apps.get_model(kind)._meta.verbose_name_plural)
    except (LookupError, ValueError):
        return kind


@dataclass(frozen=True)
class Count:
    what: str
    count: int


@dataclass(frozen=True)
class Kept:
    what: str
    count: int
    why: str


@dataclass(frozen=True)
class RequestSummary:
    """One deletion request as the account pages show it: never content, never an address."""

    id: int
    scope_label: str
    older_than: dt.datetime | None
    status: str
    status_label: str
    status_explained: str
    received_at: dt.datetime
    finished_at: dt.datetime | None
    # Prompt-and-completion texts erased so far (progress) or in all (receipt).
    texts_erased: list[Count]
    # Rows deleted outright (account deletions).
    deleted: list[Count]
    # What was kept without the person (rows anonymised, or billing totals added into
    # the anonymous ledger) and why (the receipt; the progress says how many so far).
    kept: list[Kept]
    can_cancel: bool
    # The one request whose text this was, when deleted from that request's page.
    generation_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status in DeletionRequest.OPEN_STATUSES


def _counts(data: dict | None) -> list[Count]:
    return [Count(what=kind_name(kind), count=n) for kind, n in sorted((data or {}).items()) if n]


def summarise(deletion_request: DeletionRequest) -> RequestSummary:
    """The request's status, and its counts: from the receipt once completed, from the
    progress (written with each chunk) before that."""
    request = deletion_request
    if request.status == Status.COMPLETED and request.receipt:
        erased = request.receipt.get("erased", {})
        texts, deleted = erased.get("text_erased"), erased.get("deleted")
        kept = [
            Kept(what=kind_name(item["kind"]), count=item["count"], why=item.get("reason", ""))
            for item in request.receipt.get("kept", [])
            if item.get("count")
        ]
    else:
        progress = request.progress or {}
        texts, deleted = progress.get("text_erased"), progress.get("deleted")
        kept = [
            Kept(what=kind_name(kind), count=n, why="")
            for key in ("archived", "anonymised")
            for kind, n in sorted(progress.get(key, {}).items())
            if n
        ]
    finished_at = request.completed_at or request.cancelled_at or request.rejected_at
    return RequestSummary(
        id=request.pk,
        scope_label=Scope(request.scope).label,
        older_than=request.older_than,
        status=request.status,
        status_label=Status(request.status).label,
        status_explained=STATUS_EXPLAINED[Status(request.status)],
        received_at=request.received_at,
        finished_at=finished_at,
        texts_erased=_counts(texts),
        deleted=_counts(deleted),
        kept=kept,
        can_cancel=request.scope == Scope.PROMPTS
        and request.status in (Status.RECEIVED, Status.VERIFIED, Status.SCHEDULED),
        generation_id=(request.receipt or {}).get("generation"),
    )


def verified_address(user: User) -> str:
    """Where the person's deletion and termination notices go: the account's address if
    it is a verified one (User.email may be one it never proved; a wallet-only account
    has none worth writing to). The in-app notice covers the rest."""
    return (
        EmailAddress.objects.filter(user=user, verified=True)
        .order_by("-primary", "pk")
        .values_list("email", flat=True)
        .first()
        or ""
    )


def deletion_request_for_user(*, user: User, request_id: int) -> DeletionRequest | None:
    """The user's own request with this id, or None (unknown id or another user's)."""
    return DeletionRequest.objects.filter(user_id=user.pk, pk=request_id).first()


@dataclass(frozen=True)
class DataPage:
    current: list[RequestSummary]
    past: list[RequestSummary]
    past_total: int
    stored_texts: int


def data_page_for_user(*, user: User, past_limit: int = PAST_REQUESTS_LIMIT) -> DataPage:
    """What /account/data/ shows: the open requests, the newest finished ones (with
    their receipts) and how many generations still hold text. Four queries, whatever
    the history (delreq user_id index; gen_user_created)."""
    mine = DeletionRequest.objects.filter(user_id=user.pk).order_by("-received_at", "-id")
    current = [summarise(r) for r in mine.filter(status__in=DeletionRequest.OPEN_STATUSES)]
    finished = mine.exclude(status__in=DeletionRequest.OPEN_STATUSES)
    past = [summarise(r) for r in finished[:past_limit]]
    stored = Generation.objects.filter(user=user, text_state=Generation.TextState.STORED).count()
    return DataPage(current=current, past=past, past_total=finished.count(), stored_texts=stored)


# --- What a member of staff may do (privacy/README.md, "Support") ---------------------
# One wording for the actions (which refuse, privacy.errors.ForbiddenStep) and the admin
# (which hides the step and says why): None means allowed.


def is_staff_account(user: User) -> bool:
    return user.is_staff or user.is_superuser


def account_step_refusal(*, acting_user: User | None, user: User, step: str) -> str | None:
    """Why `acting_user` may not take `step` ("terminate", "report as under 13", "open a
    deletion request for", ...) on `user`'s account, or None.

    A superuser may act on anyone; support staff only on accounts that are neither staff
    nor superusers, so one support account cannot close or erase a colleague or an
    administrator. None as the actor is the system (a task, a management command).
    """
    if acting_user is None or acting_user.is_superuser:
        return None
    if is_staff_account(user):
        return f"only a superuser can {step} a staff or superuser account"
    return None


def request_step_refusal(
    *, acting_user: User | None, deletion_request: DeletionRequest, step: str
) -> str | None:
    """Why `acting_user` may not `step` ("verify" or "schedule") this request, or None.

    - The person's own request (origin "user", acting on it themselves) is theirs to move.
    - A request about a staff or superuser account is moved by a superuser only.
    - Four eyes: a request support opened and verified is scheduled by someone else (a
      second member of staff or a superuser), never by the one who did both.
    """
    request = deletion_request
    if acting_user is None or acting_user.is_superuser:
        return None
    if request.origin == DeletionRequest.Origin.USER and acting_user.pk == request.user_id:
        return None
    account = User.objects.filter(pk=request.user_id).first() if request.user_id else None
    if account is not None and is_staff_account(account):
        return f"only a superuser can {step} a request about a staff or superuser account"
    if (
        step == "schedule"
        and request.origin == DeletionRequest.Origin.SUPPORT
        and request.received_by_id == acting_user.pk
        and request.verified_by_id == acting_user.pk
    ):
        return (
            "you opened and verified this request, so another member of staff (or a "
            "superuser) schedules it"
        )
    return None
