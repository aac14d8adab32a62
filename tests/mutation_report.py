"""What `make mutants` found, per module: `python -m tests.mutation_report PATTERN...`.

Reads mutmut's results in mutants/ (the `.meta` file beside each mutated module) and counts,
for the mutants matching the patterns (the sample that was run), how many were killed,
survived, timed out or reached no test, then lists the survivors. mutmut's own `results`
lists survivors of every module at once, without totals."""
from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS_DIR = Path("mutants")


def results(patterns: list[str]) -> dict[str, dict[str, str]]:
    """module -> {mutant name: status} for every mutant matching one of `patterns`."""
    by_module: dict[str, dict[str, str]] = defaultdict(dict)
    for meta in sorted(MUTANTS_DIR.rglob("*.py.meta")):
        module = ".".join(meta.relative_to(MUTANTS_DIR).with_suffix("").with_suffix("").parts)
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
                by_module[module][name] = status_by_exit_code[exit_code]
    return by_module


def report(patterns: list[str]) -> str:
    lines = []
    for module, statuses in sorted(results(patterns).items()):
        counts = Counter(statuses.values())
        run = sum(counts[s] for s in ("killed", "survived", "timeout"))
        share = f"{100 * counts['survived'] / run:.1f} %" if run else "-"
        lines.append(f"{module}: {len(statuses)} mutants, {counts['killed']} killed, {counts['survived']} survived "
                     f"({share} of those run), {counts['timeout']} timeout, {counts['no tests']} no tests, "
                     f"{counts['not checked']} not checked")
        lines += [f"    survived: {name}" for name, status in sorted(statuses.items()) if status == "survived"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1:] or ["*"]))
