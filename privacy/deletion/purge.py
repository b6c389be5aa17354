"""The purge: a worker claims a scheduled request, then erases it chunk by chunk, one
short transaction each, walking the personal-data registry (privacy/registry.py), and
the last chunk completes it with its receipt. The task that drives it is
privacy.tasks.purge_deletion_request; what happens on failure: privacy/deletion/README.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from privacy import audit, registry
from privacy.audit import iso
from privacy.deletion.admin_history import forget_admin_history
from privacy.deletion.archive import archive_chunk
from privacy.deletion.forget import forget_erased_account
from privacy.models import AuditEvent, DeletionRequest

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Action = AuditEvent.Action

# Rows erased per chunk, one transaction each: large enough to spread a chunk's fixed
# cost (the broker round trip, the request row, the audit event, a commit that waits for
# its WAL), small enough that its row locks and a crash's rollback last a fraction of a
# second. Measurements by size: bench/README.md, "purge: chunk size".
PURGE_CHUNK_SIZE = 15000


# An archive entry that moved at least this many of the account's rows has its table
# ANALYZEd before the rows it pointed at are deleted (see _analyze_after).
ANALYZE_AFTER_ARCHIVING = PURGE_CHUNK_SIZE


# A chunk takes seconds; a running request whose heartbeat is older than this has lost
# its worker (killed, or its message lost) and the sweeper hands it to a new one.
HEARTBEAT_STALE_AFTER = dt.timedelta(minutes=10)


class ClaimLost(Exception):
    """The message is not the current step of the request's worker chain: another
    worker reclaimed it, or this chunk was already done (a redelivered message)."""


@dataclass(frozen=True)
class Claim:
    """Which worker chain holds a running request, and which chunk it is on."""

    token: str
    chunk: int


def do_claim_deletion_request(*, request_id: int) -> Claim | None:
    """Take a request for this worker chain: SCHEDULED (and due) -> RUNNING, or a
    RUNNING request whose heartbeat is stale (its worker died) -> RUNNING under a new
    claim. One conditional UPDATE, so of two workers racing only one wins.

    Returns the claim, or None when the request is not there to take (another worker
    holds it, it finished, was cancelled, is not due yet, or is under a legal hold).
    Side effects: updates the request; a STARTED or RECLAIMED audit event.
    """
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        claimed = (
            DeletionRequest.objects.filter(pk=request_id)
            .filter(
                Q(status=Status.SCHEDULED, held=False)
                & (Q(purge_after__isnull=True) | Q(purge_after__lte=now))
                | Q(status=Status.RUNNING)
                & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - HEARTBEAT_STALE_AFTER))
            )
            .update(
                status=Status.RUNNING,
                claim_token=token,
                claimed_at=now,
                heartbeat_at=now,
                started_at=Coalesce("started_at", models.Value(now)),
            )
        )
        if not claimed:
            return None
        request = DeletionRequest.objects.get(pk=request_id)
        reclaimed = request.started_at != now
        audit.record(
            action=Action.RECLAIMED if reclaimed else Action.STARTED,
            deletion_request=request,
            detail={"chunks_done": request.chunks_done},
        )
    return Claim(token=str(token), chunk=request.chunks_done)


def do_purge_chunk(*, request_id: int, claim: Claim | None = None) -> bool:
    """Erase the next chunk of a RUNNING request and return whether rows remain.

    One short transaction: the request row is locked, up to PURGE_CHUNK_SIZE rows are
    erased walking the registry in its fixed order, the progress counts and heartbeat
    are written, and when nothing remains the request is completed with its receipt.
    Running it again after a crash erases nothing twice: erased rows no longer match.
    With `claim`, only the chain holding the request may run, and only its next chunk.
    Side effects: deletes, archives or anonymises registered rows; updates the request; CHUNK
    (and at the end COMPLETED) audit events. Raises ClaimLost for a stale claim.
    """
    with transaction.atomic():
        request = DeletionRequest.objects.select_for_update().get(pk=request_id)
        if request.status == Status.COMPLETED and claim is None:
            return False
        if request.status != Status.RUNNING:
            raise ClaimLost(f"request {request_id} is {request.status}")
        if claim is not None and (
            str(request.claim_token) != claim.token or request.chunks_done != claim.chunk
        ):
            raise ClaimLost(f"request {request_id} is held by another claim or chunk")

        progress = _Progress(request.progress)
        budget = PURGE_CHUNK_SIZE
        has_more = False
        for entry in registry.entries():
            if request.scope == Scope.PROMPTS and entry.stored_text is None:
                continue
            if budget == 0:
                has_more = True
                break
            try:
                # A savepoint, so a refused delete leaves the chunk's other work intact.
                with transaction.atomic():
                    erased = _erase(entry, request, budget, progress)
                exhausted = erased < budget
                budget -= erased
                if exhausted and entry.how == "archive":
                    # This entry has no rows left: refresh its table's statistics
                    # before the rows it pointed at are deleted (see _analyze_after).
                    _analyze_after(entry, progress)
            except models.ProtectedError:
                # Rows were linked to the account after this chunk found none (a late
                # ingestion batch): the next chunk archives them first.
                has_more = True
                break
        if budget == 0:
            has_more = True

        now = timezone.now()
        request.chunks_done += 1
        request.heartbeat_at = now
        request.progress = progress.as_dict()
        audit.record(
            action=Action.CHUNK,
            deletion_request=request,
            detail={"chunk": request.chunks_done, "rows": PURGE_CHUNK_SIZE - budget},
        )
        if not has_more:
            _complete(request, now)
        request.save()
        if not has_more and (
            request.scope == Scope.ACCOUNT or not User.objects.filter(pk=request.user_id).exists()
        ):
            forget_erased_account(request.user_id)
    return has_more


class _Progress:
    KEYS = ("deleted", "anonymised", "archived", "text_erased")

    def __init__(self, data: dict) -> None:
        self.counts = {key: Counter(data.get(key, {})) for key in self.KEYS}

    def add(self, key: str, kind: str, count: int) -> None:
        if count:
            self.counts[key][kind] += count

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {key: dict(sorted(self.counts[key].items())) for key in self.KEYS}


def _erase(
    entry: registry.PersonalData, request: DeletionRequest, budget: int, progress: _Progress
) -> int:
    """Erase up to `budget` of the entry's remaining rows; return how many."""
    queryset = entry.queryset(request.user_id).order_by()
    model = entry.model
    if request.scope == Scope.PROMPTS:
        stored = entry.stored_text
        queryset = queryset.filter(stored.remaining)
        if request.older_than is not None:
            queryset = queryset.filter(**{f"{stored.dated_by}__lt": request.older_than})
        pks = list(queryset.values_list("pk", flat=True)[:budget])
        if pks:
            model._base_manager.filter(pk__in=pks).update(**stored.erase)
            progress.add("text_erased", entry.kind, len(pks))
        return len(pks)

    # The account's rows in the entry's chunk order (an index's order: see registry).
    queryset = queryset.order_by(*entry.chunk_order)
    if entry.how == "archive":
        chosen, archived, had_text = archive_chunk(entry, queryset, budget)
        progress.add("text_erased", entry.kind, had_text)
        progress.add("archived", entry.kind, archived)
        # The rows chosen count against the budget: a chunk that skipped one (see
        # archive_chunk) is not mistaken for the entry's last.
        return chosen
    if entry.how == "anonymise":
        if entry.stored_text is None:
            chunk = queryset.annotate(_has_text=Value(False))
        else:
            # The chunk's rows and which of them still hold text, for the receipt, found
            # by the same scan; a second COUNT over the chunk's ids cost an eighth of a chunk.
            chunk = queryset.annotate(
                _has_text=Case(
                    When(entry.stored_text.remaining, then=Value(True)),
                    default=Value(False),
                    output_field=models.BooleanField(),
                )
            )
        found = list(chunk.values_list("pk", "_has_text")[:budget])
        progress.add("text_erased", entry.kind, sum(has_text for _, has_text in found))
        if not found:
            return 0
        rows = model._base_manager.filter(pk__in=[pk for pk, _ in found])
        progress.add("anonymised", entry.kind, rows.update(**entry.anonymise))
        return len(found)

    pks = list(queryset.values_list("pk", flat=True)[:budget])
    if not pks:
        return 0
    rows = model._base_manager.filter(pk__in=pks)
    forget_admin_history(model, pks)
    _, per_model = rows.delete()
    for label, count in per_model.items():
        progress.add("deleted", label.lower(), count)
    return len(pks)


def _analyze_after(entry: registry.PersonalData, progress: _Progress) -> None:
    """ANALYZE the table of an archive entry this purge has just emptied of the account's
    rows, when it moved at least ANALYZE_AFTER_ARCHIVING of them.

    The next entries delete the rows the archived ones pointed at, and a delete with a
    PROTECT link and a foreign key (the account row; API keys have neither, see
    Generation.api_key) looks the archived table up by the deleted id twice: Django's
    check and PostgreSQL's. The planner's statistics still say what they said before
    the purge (the account owns, say, a third of the table; autovacuum's ANALYZE comes
    minutes later, or never during a purge of seconds), so each lookup chose a
    sequential scan of the whole table. With fresh statistics they are index scans.
    ANALYZE samples a fixed number of pages (its cost does not grow with the table) and
    takes a lock that conflicts only with VACUUM, ANALYZE and schema changes, not with
    reads or writes. A role that does not own the table gets a warning and no
    statistics: slower, never wrong. Measured: bench/README.md, "purge: statistics".
    """
    if progress.counts["archived"][entry.kind] < ANALYZE_AFTER_ARCHIVING:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(entry.model._meta.db_table)}")  # noqa: S608


def _complete(request: DeletionRequest, now: dt.datetime) -> None:
    """RUNNING -> COMPLETED, with the receipt (called inside the last chunk)."""
    progress = request.progress
    by_kind = {entry.kind: entry for entry in registry.entries()}

    def kept(how: str, counts: dict[str, int]) -> list[dict]:
        items = []
        for kind, count in counts.items():
            entry = by_kind.get(kind)
            item = {"kind": kind, "count": count, "how": how}
            if how == "archived" and entry is not None:
                item["into"] = entry.archive.into._meta.label_lower
            items.append({**item, "reason": entry.reason if entry is not None else ""})
        return items

    request.status = Status.COMPLETED
    request.completed_at = now
    request.receipt = {
        "scope": request.scope,
        "older_than": iso(request.older_than),
        "erased": {
            "deleted": progress.get("deleted", {}),
            "text_erased": progress.get("text_erased", {}),
        },
        # Archived: the rows are gone, their billing totals added into an anonymous
        # ledger; anonymised: the rows are kept, cut from the person.
        "kept": kept("archived", progress.get("archived", {}))
        + kept("anonymised", progress.get("anonymised", {})),
        "completed_at": iso(now),
    }
    audit.record(
        action=Action.COMPLETED,
        deletion_request=request,
        detail={"chunks": request.chunks_done, **request.receipt["erased"]},
    )
