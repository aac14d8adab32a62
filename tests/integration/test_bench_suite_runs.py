"""Every benchmark, run as `python -m bench suite --quick` runs it: a small size, its own process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.slow
def test_every_benchmark_runs_at_a_small_size_and_prints_its_result():
    """Benchmarks are not run by the suite otherwise, so one that broke (push_rate_limited's user
    was refused by a later password rule) would only be found when figures are next taken."""
    done = subprocess.run([sys.executable, "-m", "bench", "suite", "--quick", "--stacks", "sqlite"],
                          capture_output=True, text=True, timeout=540)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(run["bench"], run.get("error")) for run in result["runs"] if "error" in run] == []
    assert done.returncode == 0
    assert {run["bench"] for run in result["runs"]} == set(BENCHMARKS) - {"suite", "scale_out"}
