"""Bulk statements for the sync engine's page writes (SQLite and PostgreSQL).

A page of a hundred records costs a handful of statements instead of one ORM object and
one INSERT or UPDATE per record: rows are inserted per table and set of columns (SQLite:
one multi-row INSERT RETURNING the new ids; PostgreSQL: ids drawn from the sequence, then one
pipelined executemany), links with one INSERT ... ON CONFLICT, updates with one executemany
UPDATE by primary key per set of columns. They run
on the session's connection, inside its transaction, so the page still commits with its
cursor. ORM objects already loaded are told the values written (set_committed_value), so
the session's identity map does not go stale and nothing is written twice at flush.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.models import ExternalLink
from app.models.base import utcnow

# The key of the primary key in an UPDATE's parameter rows (a column's own name is taken by SET).
ROW_ID = "row_id"
# PostgreSQL: `count` new ids of a table's id sequence, in one statement.
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
    them in one executemany (see _on_postgresql). SQLite: one INSERT ... RETURNING per set of
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
            connection.execute(insert(table), [{**row, "id": new_id} for row, new_id in zip(values, new_ids)])
        else:
            new_ids = sorted(connection.execute(insert(table).returning(table.c.id), values).scalars().all())
        for index, new_id in zip(indexes, new_ids, strict=True):
            ids[index] = new_id
    return ids


def insert_plain(session: Session, model, rows: list[dict]) -> None:
    """Insert `rows` whose ids nobody needs: one statement per set of columns (see _many)."""
    table = model.__table__
    connection = session.connection()
    for indexes in _by_columns(rows).values():
        connection.execute(_many(session, insert(table), table), [rows[index] for index in indexes])


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
    session.connection().execute(_many(session, statement, table), [
        {"integration_id": integration_id, "local_kind": kind, "external_id": external_id, "local_id": local_id,
         "remote_version": version, "created_at": now, "updated_at": now}
        for external_id, local_id, version in links])


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _many(session: Session, statement, table):
    """How a page of rows goes in one statement. SQLite: RETURNING, though the ids are not
    needed, makes SQLAlchemy send one multi-row INSERT (insertmanyvalues) instead of one per
    row. PostgreSQL: without it, psycopg's executemany pipelines one short statement, whose
    parsing psycopg caches; a multi-row INSERT of a page is a new text of hundreds of parameters,
    parsed again each time (psycopg caches none above 4,096 characters or 50 parameters), which
    was the largest part of the import's CPU there."""
    return statement if _on_postgresql(session) else statement.returning(table.c.id)


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
