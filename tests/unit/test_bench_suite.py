"""The benchmark suite (`python -m bench suite`) takes every benchmark's figures: none left out."""
from __future__ import annotations

from bench.__main__ import BENCHMARKS
from bench.suite import PLAN, STACKS


def test_the_suite_runs_every_benchmark_on_every_stack_it_supports():
    assert {run.name for run in PLAN} == set(BENCHMARKS) - {"suite"}
    # scale_out is PostgreSQL + Redis by nature (several processes on one database and queue).
    assert {run.name for run in PLAN if run.stacks != STACKS} == {"scale_out"}


def test_a_quick_run_is_the_same_run_at_a_smaller_size():
    for run in PLAN:
        # The same options, providers, servers and flags; only the numbers differ (or are added).
        assert {arg for arg in run.args if not arg[0].isdigit()} <= set(run.quick), run

