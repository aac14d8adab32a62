"""Bulk statements for the sync engine's page writes (SQLite and PostgreSQL).

A page of a hundred records costs a handful of statements instead of one ORM object and
one INSERT or UPDATE per record: rows are inserted per table and set of columns (SQLite:
one multi-row INSERT RETURNING the new ids; PostgreSQL: ids drawn from the sequence, then one
INSERT ... SELECT from the page's rows as JSON, see _insert_recordset), links with one INSERT ...
ON CONFLICT, updates with one executemany UPDATE by primary key per set of columns. They run
on the session's connection, inside its transaction, so the page still commits with its
cursor. ORM objects already loaded are told the values written (set_committed_value), so
the session's identity map does not go stale and nothing is written twice at flush.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Text, bindparam, cast, column, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.models import ExternalLink
from app.models.base import utcnow

# The key of the primary key in an UPDATE's parameter rows (a column's own name is taken by SET).
ROW_ID = "row_id"
# PostgreSQL: `count` new ids of a table's id sequence, in one statement.
# The parameter that carries a page's rows as one JSON document (no column is named so: an
# INSERT's own defaults are bound by their columns' names).
PAGE_ROWS = "page_rows"
NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)")


def _by_columns(rows: list[dict]) -> dict[tuple, list[int]]:
    """Indexes of `rows`, grouped by the set of columns each row names."""
    groups: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(tuple(sorted(row)), []).append(index)
    return groups


def insert_rows(session: Session, model, rows: list[dict]) -> list[int]:
    """Insert `rows` (column -> value) into `model`'s table; returns their new ids, in the order of
    `rows`. PostgreSQL: the ids are drawn from the table's sequence first, then the rows go with
    them in one statement (see _insert_recordset). SQLite: one INSERT ... RETURNING per set of
    columns, its ids sorted: an INSERT of many rows numbers them in the order of its VALUES,
    each above every id before it."""
    table = model.__table__
    now = utcnow()
    stamps = {name: now for name in ("created_at", "updated_at") if name in table.c}
    ids: list[int] = [0] * len(rows)
    connection = session.connection()
    on_postgresql = _on_postgresql(session)
    for indexes in _by_columns(rows).values():
        values = [{**stamps, **rows[index]} for index in indexes]
        if on_postgresql:
            new_ids = connection.execute(NEXT_IDS, {"table": table.name, "count": len(values)}).scalars().all()
            _insert_recordset(connection, insert(table), table, [{**row, "id": new_id}
                                                                for row, new_id in zip(values, new_ids)])
        else:
            new_ids = sorted(connection.execute(insert(table).returning(table.c.id), values).scalars().all())
        for index, new_id in zip(indexes, new_ids, strict=True):
            ids[index] = new_id
    return ids


def insert_plain(session: Session, model, rows: list[dict]) -> None:
    """Insert `rows` whose ids nobody needs: one statement per set of columns."""
    table = model.__table__
    for indexes in _by_columns(rows).values():
        _insert_page(session, insert(table), table, [rows[index] for index in indexes])


def upsert_links(session: Session, integration_id: int, kind: str, links: list[tuple[str, int, str | None]]) -> None:
    """Point the links of (external id, local id, remote version) at their local rows: one INSERT
    ... ON CONFLICT for the page, which also re-points a link whose local copy had been deleted."""
    if not links:
        return
    table = ExternalLink.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.integration_id, table.c.local_kind, table.c.external_id],
        set_={"local_id": statement.excluded.local_id, "remote_version": statement.excluded.remote_version,
              "updated_at": statement.excluded.updated_at})
    now = utcnow()
    rows = [{"integration_id": integration_id, "local_kind": kind, "external_id": external_id, "local_id": local_id,
             "remote_version": version, "created_at": now, "updated_at": now}
            for external_id, local_id, version in links]
    _insert_page(session, statement, table, rows)


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert_page(session: Session, statement, table, rows: list[dict]) -> None:
    """One statement for `rows` (all naming the same columns), whose ids nobody needs back."""
    if _on_postgresql(session):
        _insert_recordset(session.connection(), statement, table, rows)
    else:
        _insert_values(session.connection(), statement, table, rows)


def _insert_values(connection, statement, table, rows: list[dict]) -> None:
    """SQLite: RETURNING, though the ids are not needed, makes SQLAlchemy send one multi-row
    INSERT (insertmanyvalues) instead of one per row."""
    connection.execute(statement.returning(table.c.id), rows)


def _insert_recordset(connection, statement, table, rows: list[dict]) -> None:
    """PostgreSQL: `rows` (all naming the same columns) sent as one JSON document, which the
    server turns back into rows: `INSERT ... SELECT ... FROM json_to_recordset(:rows) AS r(a
    integer, b varchar, ...)`. The text is the same for every page, so SQLAlchemy and psycopg
    prepare it once, and the page's values are encoded by the json module's C encoder. A
    multi-row VALUES is a new text of hundreds of parameters each page (psycopg caches none
    above 50); an executemany pays psycopg's per-row machinery, and arrays (unnest) its
    per-element escaping in Python: each was the largest part of the import's CPU there."""
    columns = tuple(rows[0])
    statement = statement.from_select(columns, _recordset(table, columns))
    connection.execute(statement, {PAGE_ROWS: json.dumps(rows, default=_json_value, separators=(",", ":"))})


def _recordset(table, columns: tuple[str, ...]):
    document = cast(bindparam(PAGE_ROWS, type_=Text), postgresql.JSON)
    records = func.json_to_recordset(document).table_valued(
        *[column(name, table.c[name].type) for name in columns]).render_derived(with_types=True)
    return select(*[records.c[name] for name in columns])


def _json_value(value):
    """What JSON has no type for, as PostgreSQL reads it back into the column's type."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot go into a page's rows")


def update_rows(session: Session, changes: Iterable[tuple[object, dict]]) -> None:
    """Write each (loaded ORM object, {column: new value}) with one executemany UPDATE by primary
    key per table and set of columns, and tell the objects what was written."""
    changes = [(obj, values) for obj, values in changes if values]
    if not changes:
        return
    groups: dict[tuple, list[tuple[object, dict]]] = {}
    for obj, values in changes:
        groups.setdefault((type(obj), tuple(sorted(values))), []).append((obj, values))
    connection = session.connection()
    now = utcnow()
    for (model, _columns), members in groups.items():
        table = model.__table__
        if "updated_at" in table.c:
            members = [(obj, {**values, "updated_at": now}) for obj, values in members]
        # No .values(): SET names the columns the parameter rows name (ROW_ID is none).
        statement = update(table).where(table.c.id == bindparam(ROW_ID))
        connection.execute(statement, [{ROW_ID: obj.id, **values} for obj, values in members])
        for obj, values in members:
            for name, value in values.items():
                set_committed_value(obj, name, value)
