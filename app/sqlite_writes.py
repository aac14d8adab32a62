"""Writers on the embedded SQLite database wait their turn instead of failing.

In WAL mode a deferred transaction that reads first and writes later cannot wait
for the write lock: when another writer committed since its read, SQLite answers
"database is locked" at once, whatever the busy timeout (waiting could not make
its snapshot current). Fifty clients starting and stopping timers got a few 500s
that way. So a request that may write (any method but GET/HEAD/OPTIONS) begins
its transactions with BEGIN IMMEDIATE: the write lock is taken before the first
read, and a second writer waits on the busy timeout until the first commits.
Reads (GETs, background jobs) keep plain deferred transactions and never wait.

For that, the driver must not open that transaction itself: in a writing request
its isolation_level is set to None and SQLAlchemy's "begin" event issues BEGIN
IMMEDIATE (the recipe in SQLAlchemy's pysqlite notes); elsewhere the driver's
own deferred transactions stay as they were. Connections asked for AUTOCOMMIT
(token_service's own BEGIN IMMEDIATE) are left alone. The webhook intake keeps
its own discipline (a read, then the rows of a process's requests stored by one
INSERT per turn, app.services.group_commit), which is faster than holding the
lock from the first read.
"""
from __future__ import annotations

from contextvars import ContextVar

from flask import Flask, request

BUSY_TIMEOUT_MS = 15_000  # a writer waits up to this long for the one before it
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only read: signing in hashes a password (slow on purpose) and must not hold the lock meanwhile.
READING_POSTS = frozenset({"auth.login"})
_immediate: ContextVar[bool] = ContextVar("timehub_sqlite_immediate", default=False)


def begin(connection) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if _immediate.get():
        dbapi_connection.isolation_level = None  # we open the transaction, not the driver
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif dbapi_connection.isolation_level is None:
        dbapi_connection.isolation_level = ""  # back to the driver's own (deferred) transactions


def init_app(app: Flask) -> None:
    @app.before_request
    def mark_writers():
        _immediate.set(request.method not in READ_METHODS and request.blueprint != "webhooks"
                       and request.endpoint not in READING_POSTS)

    @app.teardown_request
    def unmark(_exc=None):
        _immediate.set(False)
