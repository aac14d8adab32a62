"""The task-tracker benchmarks themselves: `python -m bench sync_import --provider trello`
must report requests == min_requests, also when each board holds an exact multiple of
1,000 cards (the case that cost an empty page per board before); Jira Data Center's import
and no-op re-sync the fewest requests too (one search page of 50 at a time). Run as a separate
process, as an admin runs it, on its own throw-away SQLite database."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_trello_import_of_exact_multiples_of_1000_cards_makes_the_fewest_requests():
    result = bench("sync_import", "--provider", "trello", "--records", "4000", "--unlimited")
    # 2 boards of 2,000 cards: 2 card requests each, plus the boards and 3 calls a board.
    assert (result["records"], result["requests"], result["min_requests"]) == (4000, 11, 11)


def test_a_jira_data_center_import_pages_by_50_over_both_projects_in_the_fewest_requests():
    result = bench("sync_import", "--provider", "jira_datacenter", "--records", "300", "--unlimited")
    # One JQL over both projects: 300 issues are 6 searches of 50 (an exact multiple costs no empty
    # page: the answer's total ends it), plus GET project and GET myself.
    assert (result["records"], result["requests"], result["min_requests"]) == (300, 8, 8)


def test_a_jira_data_center_resync_with_nothing_changed_makes_one_search_and_writes_nothing():
    result = bench("sync_noop", "--provider", "jira_datacenter", "--records", "120")
    # GET project and one search page of what changed since (the overlap's few issues, unchanged).
    assert (result["requests"], result["writes"], result["min_requests"]) == (2, 0, 2)
