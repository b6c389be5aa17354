"""The personal-data registry: every model that holds data about a person, and how the
purge engine erases it.

Each app declares its models in a `personal_data.py` module (discovered when the
privacy app is ready), so the declaration sits beside the models it describes:

    from privacy.registry import register

    register(ApiKey, how="delete")
    register(Termination, how="anonymise", reason="...", anonymise={"user_id": None, ...})
    register(Generation, how="archive", reason="...",
             archive=Totals(into=BillingDailyTotal, day=("day", "created_at"), ...))

`tests/privacy/test_registry.py` fails when a model related to `User` (directly or
through another registered model) is missing, so a new model cannot escape deletion.

Kept records (`register_record`): the lifecycle's own rows, which outlive the people
they name (a deletion request and its receipt, the audit trail). They hold people's ids
as plain integers and, on the rows about a person, free text. When an account's purge
completes, every such id of it is forgotten (NULL) and that text cleared. The registry
tests fail on a plain id field or a free-text field of a kept row that nothing here
accounts for, so a new one cannot outlive the person either.

Order of erasure (see `entries()`): a model is erased before every registered model it
points at, so a link (Generation -> ApiKey, Generation -> User) is always cut before
its target row goes; ties keep registration order; the account row is last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import models
from django.utils.module_loading import autodiscover_modules

How = Literal["delete", "anonymise", "archive"]
HOWS = ("delete", "anonymise", "archive")


@dataclass(frozen=True)
class StoredText:
    """What "delete my stored prompts and completions" erases in a model's rows.

    `erase` is applied to the rows matching `remaining` (rows that still hold text);
    `dated_by` is the field the "older than" date of a request compares with.
    """

    erase: Mapping[str, Any]
    remaining: models.Q
    dated_by: str


@dataclass(frozen=True)
class Totals:
    """What how="archive" keeps of the rows it deletes: totals in `into`, a model that
    holds nothing about a person, one row per UTC day and `keys` values.

    - day: (date field of `into`, datetime field of the model): the rows are totalled
      per UTC day of it;
    - keys: field of `into` -> plain field of the model, also totalled by;
    - count: the field of `into` that counts the rows;
    - sums: field of `into` -> numeric field of the model, added up.

    `into` must have a unique constraint on exactly the day and key fields (the purge
    adds into an existing row: INSERT ... ON CONFLICT DO UPDATE).
    """

    into: type[models.Model]
    day: tuple[str, str]
    keys: Mapping[str, str]
    count: str
    sums: Mapping[str, str]

    @property
    def group_fields(self) -> tuple[str, ...]:
        return (self.day[0], *self.keys)


@dataclass(frozen=True)
class PersonalData:
    model: type[models.Model]
    how: How
    # The lookup path from this model to the person's user id ("user", "email_address__user",
    # "pk" for the account row itself). None when `rows` finds the rows instead.
    user_field: str | None
    reason: str
    anonymise: Mapping[str, Any]
    rows: Callable[[int], models.QuerySet] | None
    stored_text: StoredText | None
    before: tuple[type[models.Model], ...] = field(default=())
    # how="archive": what of the deleted rows is kept, as totals.
    archive: Totals | None = None
    # The order an account deletion's chunk takes the rows in (see `register`).
    chunk_order: tuple[str, ...] = ()
    # Fields the person's data download leaves out, each with why (see `register`).
    not_exported: Mapping[str, str] = field(default_factory=dict)
    # Plain integer ids of other people on the rows (the staff who acted): NULL once
    # that account is erased (see `register`).
    people: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The name used in progress counts and receipts: "app_label.model"."""
        return self.model._meta.label_lower

    @property
    def is_account(self) -> bool:
        return self.user_field == "pk"

    def queryset(self, user_id: int) -> models.QuerySet:
        """The rows of `user_id` this entry still has to erase."""
        if self.rows is not None:
            return self.rows(user_id)
        return self.model._default_manager.filter(**{self.user_field: user_id})


_registry: list[PersonalData] = []


def register(
    model: type[models.Model],
    *,
    how: How = "delete",
    user_field: str | None = "user",
    reason: str = "",
    anonymise: Mapping[str, Any] | None = None,
    rows: Callable[[int], models.QuerySet] | None = None,
    stored_text: StoredText | None = None,
    before: tuple[type[models.Model], ...] = (),
    archive: Totals | None = None,
    chunk_order: tuple[str, ...] = (),
    not_exported: Mapping[str, str] | None = None,
    people: tuple[str, ...] = (),
) -> PersonalData:
    """Declare that `model` holds data about a person and how the purge erases it.

    - how="delete": the person's rows are deleted.
    - how="anonymise": the rows are kept for `reason` (required) with the fields in
      `anonymise` overwritten; those must cut the link to the person (`user_field`),
      or the purge would find the same rows again forever.
    - how="archive": the rows are deleted, and for `reason` (required) their totals are
      first added into `archive.into` (see Totals), a model that holds nothing about a
      person (no relation to any model). Cheaper than anonymising in place when the
      rows are many and wide (a delete plus a few upserted rows instead of a new
      version of every row and its index entries), and more anonymous: no row of the
      ledger is one person's.
    - rows: a function user id -> queryset, for rows not reachable by a field path
      (Django sessions are found through allauth's UserSession).
    - before: models whose rows `rows` depends on, so they are erased after this one.
    - chunk_order: for a model with many rows per person, the order of an index that
      leads with `user_field` (e.g. ("created_at", "id")), so each chunk of an
      account deletion finds its rows by that index. Without it, when one person owns
      a large share of the table, PostgreSQL may find a chunk by scanning the table from
      its start, and the last chunk (which finds nothing) reads all of it.
    - not_exported: field -> why, for the fields the person's data download
      (privacy/export.py, which walks this registry) leaves out: secrets that would let
      whoever holds the file act as the person (a password hash, a session key) and
      other people's data. Every other field of the person's rows is in the download.
    - people: plain integer fields holding the id of someone else (the staff member who
      acted); when that person's account is erased, the purge sets them to NULL on
      every row that stays (privacy/deletion/forget.py).
    """
    if how not in HOWS:
        raise ValueError(f"how must be one of {', '.join(HOWS)}, not {how!r}")
    if (user_field is None) == (rows is None):
        raise ValueError(f"{model.__name__}: give exactly one of user_field and rows")
    anonymise = dict(anonymise or {})
    if how in ("anonymise", "archive") and not reason:
        raise ValueError(f"{model.__name__}: a model whose data is kept must say why")
    if how == "anonymise":
        link = (user_field or "").split("__", 1)[0]
        if rows is None and link not in anonymise:
            raise ValueError(f"{model.__name__}: anonymising must clear {link!r}")
    elif anonymise:
        raise ValueError(f"{model.__name__}: `anonymise` is only for how='anonymise'")
    for name in chunk_order:
        if name.removeprefix("-") not in {f.name for f in model._meta.concrete_fields} | {"pk"}:
            raise ValueError(f"{model.__name__}: cannot order chunks by {name!r}")
    not_exported = dict(not_exported or {})
    concrete = {f.attname for f in model._meta.concrete_fields}
    for name, why in not_exported.items():
        if name not in concrete:
            raise ValueError(f"{model.__name__}: no field {name!r} to leave out of the download")
        if not why:
            raise ValueError(f"{model.__name__}: say why {name!r} is left out of the download")
    if how == "archive":
        _check_archive(model, archive)
    elif archive is not None:
        raise ValueError(f"{model.__name__}: `archive` is only for how='archive'")
    _check_ids(model, people)
    entry = PersonalData(
        model=model,
        how=how,
        user_field=user_field,
        reason=reason,
        anonymise=anonymise,
        rows=rows,
        stored_text=stored_text,
        before=tuple(before),
        archive=archive,
        chunk_order=tuple(chunk_order),
        not_exported=not_exported,
        people=tuple(people),
    )
    _registry.append(entry)
    return entry


@dataclass(frozen=True)
class Record:
    """A kept record (see `register_record`)."""

    model: type[models.Model]
    reason: str
    # Account id -> the rows about that account the completed purge may rewrite.
    about: Callable[[int], models.QuerySet] | None
    # What those rows lose: the account's id and the free text about the person.
    clear: Mapping[str, Any]
    # Plain integer fields holding anyone's id: NULL where they hold the erased one.
    people: tuple[str, ...]
    # Text fields that stay, each with why they hold nothing about the person.
    kept: Mapping[str, str]

    @property
    def kind(self) -> str:
        return self.model._meta.label_lower


_records: list[Record] = []


def register_record(
    model: type[models.Model],
    *,
    reason: str,
    about: Callable[[int], models.QuerySet] | None = None,
    clear: Mapping[str, Any] | None = None,
    people: tuple[str, ...] = (),
    kept: Mapping[str, str] | None = None,
) -> Record:
    """Declare a record the lifecycle keeps after the people it names are erased.

    When an account's purge completes (privacy/deletion/forget.py, in its last chunk's
    transaction), the rows `about` returns for the account get `clear`
    (its id and the free text about the person), and every field in `people` that
    holds the account's id is set to NULL on every row. The purge's plain UPDATEs go
    through the model's base manager: a model that refuses updates in Python (the audit
    trail) is still written this one way, and its database trigger checks the account
    is really gone.
    - about: for the rows to rewrite only those that are finished (a request still
      running needs its account id until it completes).
    - kept: field -> why, for every text or JSON field not cleared (the registry test
      checks each one is accounted for).
    """
    if not reason:
        raise ValueError(f"{model.__name__}: a kept record must say why it is kept")
    clear = dict(clear or {})
    if clear and about is None:
        raise ValueError(f"{model.__name__}: say which rows (`about`) lose {sorted(clear)}")
    concrete = {f.attname for f in model._meta.concrete_fields}
    for name in [*clear, *(kept or {})]:
        if name not in concrete:
            raise ValueError(f"{model.__name__}: no field {name!r}")
    for name, why in (kept or {}).items():
        if not why:
            raise ValueError(f"{model.__name__}: say why {name!r} is kept")
    _check_ids(model, people)
    record = Record(
        model=model,
        reason=reason,
        about=about,
        clear=clear,
        people=tuple(people),
        kept=dict(kept or {}),
    )
    _records.append(record)
    return record


def _check_ids(model: type[models.Model], people: tuple[str, ...]) -> None:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    for name in people:
        found = fields.get(name)
        if found is None or found.is_relation or not isinstance(found, models.IntegerField):
            raise ValueError(f"{model.__name__}: {name!r} is not a plain integer id")
        if not found.null:
            raise ValueError(f"{model.__name__}: {name!r} must be nullable to be forgotten")


def records() -> list[Record]:
    """The kept records, in registration order."""
    return list(_records)


def _check_archive(model: type[models.Model], archive: Totals | None) -> None:
    name = model.__name__
    if archive is None:
        raise ValueError(f"{name}: archiving needs `archive` (what is kept, as Totals)")
    into = archive.into
    target = into.__name__
    # The rows go with one SQL statement, past Django's on_delete handling.
    if model._meta.related_objects:
        raise ValueError(
            f"{name}: an archived model's rows are deleted in bulk: nothing may point at it"
        )
    # The archive must not be a way back to the person: no link to any row at all.
    if any(f.is_relation for f in into._meta.get_fields(include_hidden=True)):
        raise ValueError(f"{name}: the archive {target} must not relate to any model")
    source_fields = {f.name: f for f in model._meta.concrete_fields}
    target_fields = {f.name: f for f in into._meta.concrete_fields}
    day_to, day_from = archive.day
    mapping = {day_to: day_from, **archive.keys, **archive.sums}
    if len(mapping) != 1 + len(archive.keys) + len(archive.sums) or archive.count in mapping:
        raise ValueError(f"{name}: each field of {target} may be filled once")
    for to, frm in {**mapping, archive.count: None}.items():
        if to not in target_fields or target_fields[to].primary_key:
            raise ValueError(f"{name}: {target} has no field {to!r} to archive into")
        if frm is not None and (frm not in source_fields or source_fields[frm].is_relation):
            raise ValueError(f"{name}: {frm!r} is not a plain field of {name}")
    if not isinstance(source_fields[day_from], models.DateTimeField):
        raise ValueError(f"{name}: totals are per day of a DateTimeField, not {day_from!r}")
    numeric = (models.IntegerField, models.DecimalField, models.FloatField)
    for to, frm in archive.sums.items():
        if not isinstance(source_fields[frm], numeric):
            raise ValueError(f"{name}: {frm!r} is not a number to add up")
        if not isinstance(target_fields[to], numeric):
            raise ValueError(f"{name}: {target}.{to} is not a number to add into")
    if not isinstance(target_fields[archive.count], numeric):
        raise ValueError(f"{name}: {target}.{archive.count} is not a number to count into")
    for to, f in target_fields.items():
        filled = (
            f.primary_key or f.null or f.has_default() or f.db_default is not models.NOT_PROVIDED
        )
        if to not in mapping and to != archive.count and not filled:
            raise ValueError(f"{name}: archiving must fill {target}.{to}")
    unique = {
        frozenset(constraint.fields)
        for constraint in into._meta.constraints
        if isinstance(constraint, models.UniqueConstraint)
        and constraint.fields
        and constraint.condition is None
        and not constraint.expressions
    }
    if frozenset(archive.group_fields) not in unique:
        raise ValueError(
            f"{name}: {target} needs a unique constraint on {', '.join(archive.group_fields)}"
        )


def autodiscover() -> None:
    """Import every installed app's `personal_data` module (PrivacyConfig.ready)."""
    autodiscover_modules("personal_data")


def registered_models() -> set[type[models.Model]]:
    return {entry.model for entry in _registry}


def entries() -> list[PersonalData]:
    """The registry in erasure order.

    An entry goes before every entry whose model it points at (a foreign key, one-to-one
    or an explicit `before`): children before parents, so no row is left pointing at a
    deleted one and a PROTECT link is cut before its target goes. Among entries that are
    free to go, those with a `chunk_order` (many rows per person) come first, then
    registration order; the account row itself is always last. Putting the big entries
    first means an account deletion's chunks spend their whole budget there and stop
    (privacy.deletion.purge.do_purge_chunk), instead of first asking each small model again for
    rows it no longer has: a dozen queries and savepoints less in each of a large
    account's chunks; the small models are erased by the last chunk.
    """
    pending = sorted(_registry, key=lambda entry: not entry.chunk_order)
    ordered: list[PersonalData] = []

    def must_wait(entry: PersonalData) -> bool:
        for other in pending:
            if other is entry:
                continue
            if entry.is_account and not other.is_account:
                return True
            if entry.model in other.before or _points_at(other.model, entry.model):
                return True
        return False

    while pending:
        ready = next((entry for entry in pending if not must_wait(entry)), None)
        if ready is None:
            names = ", ".join(entry.kind for entry in pending)
            raise RuntimeError(f"personal-data registry has a cycle among: {names}")
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def _points_at(model: type[models.Model], target: type[models.Model]) -> bool:
    if model is target:
        return False
    return any(
        f.is_relation
        and (f.many_to_one or f.one_to_one)
        and f.concrete
        and f.related_model is target
        for f in model._meta.get_fields()
    )
