"""`python -m bench webhook_apply` itself: every stored delivery is applied once (a project
each, beside the baseline's own), batched and alone, and every CPU figure is reported. Run as an admin runs it,
in a process of its own on a throw-away SQLite database."""
from __future__ import annotations

from tests.integration.test_bench_task_trackers import bench


def test_every_stored_delivery_is_applied_once_beside_the_baselines_records():
    result = bench("webhook_apply", "--deliveries", "40", "--batch", "8")
    # 40 applied in jobs of 8 and 40 a job each: a project each, beside the baseline's 40.
    assert (result["deliveries"], result["applied"], result["projects"]) == (80, 80, 120)
    assert result["cpu_ms_per_delivery"] > 0 and result["cpu_ms_per_delivery_alone"] > 0
    assert result["bulk_cpu_ms_per_record"] > 0
