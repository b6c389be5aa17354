"""how="archive" (privacy/registry.py): one statement moves a chunk of an account's rows
into the anonymous totals of `Totals.into` and deletes them (privacy/deletion/README.md,
"Billing survives as anonymous totals")."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query

from privacy import registry
from privacy.deletion.admin_history import has_admin_history


def archive_chunk(
    entry: registry.PersonalData, queryset: models.QuerySet, budget: int
) -> tuple[int, int, int]:
    """Move up to `budget` rows of `queryset` (the account's rows in chunk
    order) into the totals of `entry.archive` and delete them, in one statement.
    Returns (rows chosen, rows moved, how many of the moved held text).

    The statement: the chunk's row addresses (ctid) and ids by the chunk order's index,
    the admin history's names forgotten, the DELETE of those addresses (a TID scan: each
    row fetched once, where a join on ids looked every row up again in the primary key
    index; bench/README.md, "purge: deleting by row address"), and
    the totals of the DELETE's RETURNING added with INSERT ... ON CONFLICT DO UPDATE
    (no ids through Python; the totals' rows are locked in one order, so two purges
    adding into the same day never deadlock). Whether a row held text is read from the
    deleted row itself. A row updated by another transaction since the chunk was chosen
    (the categoriser marking it, the nightly expiry erasing its text) has a new address:
    this DELETE skips it (chosen, not moved) and the next chunk takes it. In the chunk's
    transaction: a retried chunk finds the rows gone and adds nothing twice.
    """
    archive = entry.archive
    quote = connection.ops.quote_name
    source, target = entry.model._meta, archive.into._meta
    table = quote(source.db_table)

    def source_column(name: str) -> str:
        return quote(source.get_field(name).column)

    def target_column(name: str) -> str:
        return quote(target.get_field(name).column)

    into = quote(target.db_table)
    day_to, day_from = archive.day
    # (target column, expression over `moved`), grouped by, in the constraint's order.
    groups = [(target_column(day_to), f"(({source_column(day_from)}) AT TIME ZONE 'UTC')::date")]
    groups += [(target_column(to), source_column(frm)) for to, frm in archive.keys.items()]
    sums = [(target_column(to), source_column(frm)) for to, frm in archive.sums.items()]
    count = target_column(archive.count)
    returned = {source_column(day_from)} | {column for _, column in groups[1:] + sums}
    returning = ", ".join(f"{table}.{column}" for column in sorted(returned))
    columns = ", ".join([column for column, _ in groups] + [count] + [c for c, _ in sums])
    values = ", ".join(
        [expression for _, expression in groups]
        + ["count(*)"]
        + [f"sum({expression})" for _, expression in sums]
    )
    positions = ", ".join(str(n) for n in range(1, len(groups) + 1))
    conflict = ", ".join(column for column, _ in groups)
    added = ", ".join(
        f"{column} = {into}.{column} + EXCLUDED.{column}"
        for column in [count] + [c for c, _ in sums]
    )

    chunk = queryset.annotate(
        # The row address; a quoted constant name, no value.
        _row=RawSQL(f"{table}.ctid", (), output_field=models.TextField())  # noqa: S611
    ).values_list("pk", "_row")[:budget]
    select, params = chunk.query.sql_with_params()
    has_text, has_text_params = "false", ()
    if entry.stored_text is not None:
        # The stored-text condition over the deleted row's own columns.
        query = Query(entry.model)
        has_text, has_text_params = query.build_where(entry.stored_text.remaining).as_sql(
            query.get_compiler(connection=connection), connection
        )
    content_type = ContentType.objects.get_for_model(entry.model, for_concrete_model=False)
    forgotten, forgotten_params = "", ()
    if has_admin_history(content_type):
        # forget_admin_history's UPDATE, on the chunk's ids, inside the statement.
        log = LogEntry._meta
        log_table = quote(log.db_table)
        ct_column = quote(log.get_field("content_type").column)
        id_column = quote(log.get_field("object_id").column)
        repr_column = quote(log.get_field("object_repr").column)
        message_column = quote(log.get_field("change_message").column)
        forgotten = f"""
        forgotten AS (
            UPDATE {log_table} SET {repr_column} = '', {message_column} = ''
            WHERE {ct_column} = %s AND {id_column} IN (SELECT pk::text FROM chunk)
              AND NOT ({repr_column} = '' AND {message_column} = '')
        ),"""  # noqa: S608 (quoted names)
        forgotten_params = (content_type.pk,)
    sql = f"""
        WITH chunk (pk, row) AS ({select}),{forgotten}
        moved AS (
            DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT row FROM chunk))
            RETURNING {returning}, ({has_text}) AS has_text
        ),
        added AS (
            INSERT INTO {into} ({columns})
            SELECT {values} FROM moved GROUP BY {positions} ORDER BY {positions}
            ON CONFLICT ({conflict}) DO UPDATE SET {added}
        )
        SELECT (SELECT count(*) FROM chunk), count(*), count(*) FILTER (WHERE has_text)
        FROM moved
    """  # noqa: S608 (quoted names and the queryset's own SQL)
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, *forgotten_params, *has_text_params))
        chosen, moved, had_text = cursor.fetchone()
    return chosen, moved, had_text
