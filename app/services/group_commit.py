"""Group commit: the writes of many request threads of one process in one transaction.

A durable commit costs a flush to disk (an fsync on SQLite, the WAL flush on
PostgreSQL), and that, not the work, bounds how many small writes a process
can answer for. Each thread hands its item over and waits; whoever takes the
writer's turn writes every item waiting by then in one transaction and hands
each thread its own result. A lone item is written at once (no linger, no
background thread); items that arrive while a commit is in progress are
written together by the next turn. SQLite allows one writer at a time anyway:
taking turns on a lock also keeps the threads out of its busy handler, which
polls with sleeps of up to 100 ms.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Waiting(Generic[Item, Result]):
    __slots__ = ("item", "result", "error", "done")

    def __init__(self, item: Item):
        self.item = item
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit(Generic[Item, Result]):
    """`write(items)` writes and commits a batch, returning one result per item in
    order. When a batch of several fails, its items are written again one at a
    time, so one bad item fails only the thread that submitted it."""

    def __init__(self, write: Callable[[Sequence[Item]], Sequence[Result]], max_batch: int):
        self._write = write
        self._max_batch = max_batch
        self._turn = threading.Lock()      # one batch at a time
        self._lock = threading.Lock()      # guards _waiting
        self._waiting: list[_Waiting[Item, Result]] = []

    def submit(self, item: Item) -> Result:
        """Write `item` with whatever else is waiting; its result once committed."""
        mine = _Waiting(item)
        with self._lock:
            self._waiting.append(mine)
        while not mine.done:
            with self._turn:
                if not mine.done:
                    self._write_next_batch()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _write_next_batch(self) -> None:
        with self._lock:
            batch = self._waiting[:self._max_batch]
            del self._waiting[:len(batch)]
        try:
            self._write_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - an interrupt mid-batch: nobody waits for ever
            for waiting in batch:
                if not waiting.done:
                    waiting.error, waiting.done = exc, True
            raise

    def _write_batch(self, batch: list[_Waiting[Item, Result]]) -> None:
        if not batch:
            return
        try:
            results = self._write([waiting.item for waiting in batch])
        except Exception as exc:  # noqa: BLE001 - re-raised by the thread(s) that submitted the item(s)
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for waiting in batch:  # again one by one: only the items that fail alone fail
                self._write_batch([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            waiting.result, waiting.done = result, True
