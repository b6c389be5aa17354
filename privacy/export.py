"""The person's data download ("Download your data" on /account/data/): every row the
personal-data registry lists for them, as one JSON document streamed page by page.

It walks the same registry the purge walks (privacy/registry.py), so whatever the
portal would erase about a person it also hands them, and a new model cannot be left
out of one without the other: tests/privacy/test_registry.py fails for a model related
to `User` that is not registered. Each entry's `not_exported` fields are left out, and
the document says which and why (secrets such as the password's hash, other people's
data).

The document:

    {"format": "portal-data-export/1",
     "exported_at": "2026-11-28T21:00:00+00:00",
     "account": "<the account's opaque id>",
     "left_out": {"accounts.user": {"password": "why"}, ...},
     "records": {"accounts.user": [{...}], "logging_prefs.generation": [...], ...},
     "complete": true}

Rows are read in pages of EXPORT_PAGE_ROWS by keyset (never OFFSET, never one long
transaction or server-side cursor): a million generations stream in constant memory.
"complete" comes last, so a download cut off half-way (a dropped connection, a
database error after the first bytes were sent) is visibly incomplete rather than
silently short.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from accounts.models import User
from privacy import registry
from privacy.models import AuditEvent

logger = logging.getLogger(__name__)

FORMAT = "portal-data-export/1"

# Rows read per query. Large enough that a million generations take 500 queries (about
# a second of round trips); small enough that a page of 1 KB rows is a couple of MB of
# memory in the web worker.
EXPORT_PAGE_ROWS = 2000


# One download at a time per account: a million generations keep a web worker busy for
# about twenty seconds, and a second click would only start the same work again. The
# lock (in the shared cache) is renewed while the document streams and released when
# the response closes, finished or not; a web worker killed mid-download leaves it to
# expire after this long.
DOWNLOAD_LOCK_SECONDS = 120


class Download:
    """The document as a response body (StreamingHttpResponse calls `close` when the
    response is closed: sent, or the client went away) holding the account's lock
    (`key`; None when the cache was unreachable and the download went ahead without)."""

    def __init__(self, key: str | None, pieces: Iterator[bytes]) -> None:
        self.key = key
        self.pieces = pieces
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        renewed = time.monotonic()
        for piece in self.pieces:
            yield piece
            if self.key and time.monotonic() - renewed > DOWNLOAD_LOCK_SECONDS / 4:
                _cache_call(cache.touch, self.key, DOWNLOAD_LOCK_SECONDS)
                renewed = time.monotonic()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pieces.close()
            if self.key:
                _cache_call(cache.delete, self.key)


def start_download(*, user_id: int, account: str, exported_at: dt.datetime) -> Download | None:
    """The account's document, or None while another download of it is streaming."""
    key = f"privacy:data-download:{user_id}"
    taken = _cache_call(cache.add, key, exported_at.isoformat(), DOWNLOAD_LOCK_SECONDS)
    if taken is False:
        return None
    # None: the cache is unreachable. The lock only spares the server repeated work,
    # so the person still gets their data, unguarded.
    return Download(
        key if taken else None,
        data_export(user_id=user_id, account=account, exported_at=exported_at),
    )


def _cache_call(method, *args):
    try:
        return method(*args)
    except Exception:  # the cache's own errors (Redis down, a full disk) vary by backend
        logger.warning("data download: the cache is unreachable", exc_info=True)
        return None


def do_record_data_download(*, user: User) -> AuditEvent:
    """Record that the person downloaded their data: who, when, and the account as an
    opaque id, so support can answer "who took a copy, and when".
    Side effects: a DATA_DOWNLOADED audit event."""
    return AuditEvent.objects.create(
        action=AuditEvent.Action.DATA_DOWNLOADED,
        actor_id=user.pk,
        target=f"account:{user.pk}",
        detail={},
    )


def export_entries() -> list[registry.PersonalData]:
    """What the download holds, the account row first, then the registry's order."""
    entries = registry.entries()
    return sorted(entries, key=lambda entry: not entry.is_account)


def _left_out(entries: list[registry.PersonalData]) -> dict[str, dict[str, str]]:
    return {entry.kind: dict(entry.not_exported) for entry in entries if entry.not_exported}


def data_export(*, user_id: int, account: str, exported_at: dt.datetime) -> Iterator[bytes]:
    """The JSON document of everything registered about `user_id`, in pieces."""
    entries = export_entries()
    yield (
        b'{"format": '
        + _dumps(FORMAT)
        + b', "exported_at": '
        + _dumps(exported_at)
        + b', "account": '
        + _dumps(account)
        + b', "left_out": '
        + _dumps(_left_out(entries))
        + b', "records": {'
    )
    for index, entry in enumerate(entries):
        yield (b", " if index else b"") + _dumps(entry.kind) + b": ["
        first = True
        for page in _pages(entry, user_id):
            yield (b"" if first else b", ") + b", ".join(_dumps(row) for row in page)
            first = False
        yield b"]"
    yield b'}, "complete": true}'


def _dumps(value: object) -> bytes:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False).encode()


def _pages(entry: registry.PersonalData, user_id: int) -> Iterator[list[dict]]:
    """The person's rows of `entry`, its exported fields only, a page at a time."""
    model = entry.model
    pk = model._meta.pk.attname
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in entry.not_exported]
    sort = _sort_field(entry)
    keys = [sort, pk] if sort else [pk]
    # The keyset columns are fetched too, after the exported ones, if left out of them.
    fetch = names + [key for key in keys if key not in names]
    at = [fetch.index(key) for key in keys]
    queryset = entry.queryset(user_id).order_by(*keys)
    after: list | None = None
    while True:
        page = queryset
        if after is not None and sort:
            # (sort, pk) > after, in a form that an index on (user, sort, pk) bounds.
            page = page.filter(**{f"{sort}__gte": after[0]}).filter(
                Q(**{f"{sort}__gt": after[0]}) | Q(pk__gt=after[1])
            )
        elif after is not None:
            page = page.filter(pk__gt=after[0])
        rows = list(page.values_list(*fetch)[:EXPORT_PAGE_ROWS])
        if not rows:
            return
        yield [dict(zip(names, row, strict=False)) for row in rows]
        if len(rows) < EXPORT_PAGE_ROWS:
            return
        after = [rows[-1][i] for i in at]


def _sort_field(entry: registry.PersonalData) -> str | None:
    """The entry's chunk order's leading field, when that order is (field, id) ascending
    on a field that is never NULL: the index an account deletion walks serves the
    download too. Otherwise None, and pages go by primary key."""
    order = entry.chunk_order
    if len(order) != 2 or order[1] not in ("id", "pk") or order[0].startswith("-"):
        return None
    field = entry.model._meta.get_field(order[0])
    if field.null or not isinstance(field, models.Field) or field.is_relation:
        return None
    return field.attname
