"""Benchmarks of the sync engine: `python -m bench <name> ...`.

Each benchmark prints progress on stderr and one JSON object as the last
line of stdout. They are measurements, not tests: nothing here asserts a
time. docs/benchmarks.md lists the targets, the commands and the figures.
"""
