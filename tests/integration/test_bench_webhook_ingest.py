"""`python -m bench webhook_ingest --worker` itself: a real worker process applies the
deliveries while they arrive, and the benchmark reports every accepted one applied once.
Run as an admin runs it, in a process of its own on a throw-away SQLite database."""
from __future__ import annotations

from tests.integration.test_bench_task_trackers import bench


def test_a_worker_beside_the_intake_applies_every_accepted_delivery():
    result = bench("webhook_ingest", "--seconds", "1", "--worker")
    accepted = result["applied"] + result["not_applied"]
    assert result["lost"] == 0 and accepted > 0
    assert result["not_applied"] == 0  # every accepted delivery processed without an error
    assert 1 <= result["apply_runs"] <= accepted and result["drain_s"] >= 0 and result["behind_at_end"] >= 0
