"""No test can hang: pytest-timeout turns a test past its limit into a failure with a
traceback, and a test marked slow gets the larger `slow_timeout` (pyproject.toml,
tests/conftest.py). Proved by running pytest on tests that loop forever."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _hooks_only(pytester) -> None:
    """The conftest part that matters here, without the app's fixtures (they need a database)."""
    source = (REPO / "tests" / "conftest.py").read_text()
    start = source.index("def pytest_addoption")
    end = source.index("def pytest_report_header")
    pytester.makeconftest("import pytest\n\n" + source[start:end])


def test_a_test_that_never_ends_fails_with_a_traceback(pytester):
    pytester.makeini("[pytest]\ntimeout = 1\nslow_timeout = 30\nmarkers =\n    slow: long by design\n")
    _hooks_only(pytester)
    pytester.makepyfile(test_loop="""
        def wait_for_the_next_page():
            while True:
                pass

        def test_paging_forever():
            wait_for_the_next_page()
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "Timeout (>1.0s) from pytest-timeout" in output
    assert "def wait_for_the_next_page():" in output  # the traceback shows where it hung


def test_a_slow_test_gets_the_larger_limit_and_an_unmarked_one_does_not(pytester):
    pytester.makeini("[pytest]\ntimeout = 1\nslow_timeout = 30\nmarkers =\n    slow: long by design\n")
    _hooks_only(pytester)
    pytester.makepyfile(test_waits="""
        import time
        import pytest

        @pytest.mark.slow
        def test_slow_but_finite():
            time.sleep(2)

        def test_unmarked_and_as_long():
            time.sleep(2)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_unmarked_and_as_long*"])


def test_the_suite_runs_under_these_limits(pytestconfig):
    assert pytestconfig.getini("timeout") == "120"
    assert float(pytestconfig.getini("slow_timeout")) > float(pytestconfig.getini("timeout"))
