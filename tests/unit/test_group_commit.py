"""GroupCommit: many threads' items written by one transaction each turn (app.services.group_commit)."""
from __future__ import annotations

import threading
import time

import pytest

from app.services.group_commit import GroupCommit


class BlockingWriter:
    """Writes record their batches; the first write waits until released, so that items
    submitted meanwhile pile up for the next turn."""

    def __init__(self, refuse=()):
        self.batches: list[list] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.refuse = set(refuse)

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        if self.refuse & set(items):
            raise ValueError(f"refused {sorted(self.refuse & set(items))}")
        return [item * 10 for item in items]


def submit_in_threads(group: GroupCommit, items) -> tuple[dict, dict, list[threading.Thread]]:
    results, errors = {}, {}

    def submit(item):
        try:
            results[item] = group.submit(item)
        except ValueError as exc:
            errors[item] = str(exc)

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return results, errors, threads


def wait_for_waiting(group: GroupCommit, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(group._waiting) < count and time.monotonic() < deadline:  # noqa: SLF001 - the test's only window
        time.sleep(0.005)
    assert len(group._waiting) == count  # noqa: SLF001


def test_a_lone_item_is_written_at_once_and_gets_its_own_result():
    batches = []
    group = GroupCommit(lambda items: batches.append(list(items)) or [f"stored {item}" for item in items], 10)
    assert group.submit("a") == "stored a"
    assert group.submit("b") == "stored b"
    assert batches == [["a"], ["b"]]


def submit_during_first_write(writer: BlockingWriter, group: GroupCommit, later_items) -> tuple[dict, dict]:
    """Item 1 is submitted and its write blocks while `later_items` are submitted at once (in
    threads, in no set order); then the write goes on. The later items' results and errors."""
    _, _, first = submit_in_threads(group, [1])
    assert writer.first_started.wait(10)
    results, errors, later = submit_in_threads(group, later_items)
    wait_for_waiting(group, len(later_items))
    writer.release.set()
    for thread in first + later:
        thread.join(10)
    return results, errors


def test_items_submitted_during_a_write_are_written_together_by_the_next_turn():
    writer = BlockingWriter()
    results, errors = submit_during_first_write(writer, GroupCommit(writer, max_batch=10), [2, 3, 4])
    assert [writer.batches[0], sorted(writer.batches[1])] == [[1], [2, 3, 4]] and len(writer.batches) == 2
    assert (results, errors) == ({2: 20, 3: 30, 4: 40}, {})


def test_a_turn_writes_at_most_max_batch_items_and_the_rest_follow_in_order():
    writer = BlockingWriter()
    group = GroupCommit(writer, max_batch=2)
    _, _, first = submit_in_threads(group, [1])
    assert writer.first_started.wait(10)
    later = []
    for item in (2, 3, 4, 5, 6):  # one at a time, so the waiting list is in this order
        later += submit_in_threads(group, [item])[2]
        wait_for_waiting(group, item - 1)
    writer.release.set()
    for thread in first + later:
        thread.join(10)
    assert writer.batches == [[1], [2, 3], [4, 5], [6]]


def test_an_item_that_fails_fails_only_its_own_thread():
    writer = BlockingWriter(refuse={3})
    results, errors = submit_during_first_write(writer, GroupCommit(writer, max_batch=10), [2, 3, 4])
    assert (results, errors) == ({2: 20, 4: 40}, {3: "refused [3]"})
    # The batch failed as a whole, then each of its items was written alone.
    assert sorted(writer.batches[1]) == [2, 3, 4]
    assert sorted(writer.batches[2:]) == [[2], [3], [4]] and len(writer.batches) == 5


def test_an_interrupted_write_leaves_no_thread_waiting_for_ever():
    class Interrupted(BaseException):
        pass

    def write(items):
        raise Interrupted()

    group = GroupCommit(write, max_batch=10)
    with pytest.raises(Interrupted):
        group.submit("a")
    assert group._waiting == []  # noqa: SLF001
