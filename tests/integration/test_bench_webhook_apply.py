"""`python -m bench webhook_apply` itself: every stored delivery is applied once (a project
each, beside the baseline's own), and both CPU figures are reported. Run as an admin runs it,
in a process of its own on a throw-away SQLite database."""
from __future__ import annotations

from tests.integration.test_bench_task_trackers import bench


def test_every_stored_delivery_is_applied_once_beside_the_baselines_records():
    result = bench("webhook_apply", "--deliveries", "40")
    assert (result["deliveries"], result["applied"], result["projects"]) == (40, 40, 80)
    assert result["cpu_ms_per_delivery"] > 0 and result["bulk_cpu_ms_per_record"] > 0
