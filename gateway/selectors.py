"""What /authorize and /routes read: a key's decision and a model's routes, in one
statement."""

from __future__ import annotations

from accounts.models import hash_api_key
from catalog.selectors import ROUTES_COLUMNS, ROUTES_FROM, Routes, model_id_parts, routes_from_rows
from gateway.prepared import fetch_all
from logging_prefs.selectors import (
    DECISION_COLUMNS,
    DECISION_SQL,
    Decision,
    UnknownKey,
    decision_for_key,
    decision_from_row,
)

# The decision's row joined to each of the model's route rows: no row for an unknown
# key; `listed` NULL when the catalog has no such model; otherwise the rows of
# catalog.selectors' routes query. One round trip instead of two: on the gateway's path
# the second query cost about as much as the first (bench/README.md, "gateway").
_AUTHORIZE_SQL = (
    "SELECT d.*, r.* FROM ("  # noqa: S608 (constant names)
    + DECISION_SQL
    + ") AS d LEFT JOIN LATERAL (SELECT true AS listed, "
    + ROUTES_COLUMNS
    + ROUTES_FROM
    + ") AS r ON true ORDER BY r.input_price, r.output_price, r.provider"
)


def decision_and_routes(raw_key: str, model_id: str) -> tuple[Decision, Routes | None]:
    """The key's decision (UnknownKey, AccountInactive as decision_for_key raises them)
    and the routes of `model_id` it allows (None: no such model), read together."""
    parts = model_id_parts(model_id)
    if parts is None:
        return decision_for_key(raw_key), None
    rows = fetch_all(_AUTHORIZE_SQL, [hash_api_key(raw_key), *parts])
    if not rows:
        raise UnknownKey
    decision = decision_from_row(rows[0][:DECISION_COLUMNS])
    if rows[0][DECISION_COLUMNS] is None:
        return decision, None
    routes = [row[DECISION_COLUMNS + 1 :] for row in rows]
    return decision, routes_from_rows(routes, decision.provider_policy)
