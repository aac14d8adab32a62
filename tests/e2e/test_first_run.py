"""The first-run form preselects the browser's time zone (static/timezone.js), in Chromium."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import PAGE_TIMEOUT_MS


@pytest.mark.parametrize("browser_zone, expected", [
    ("Europe/Berlin", "Europe/Berlin"),
    ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("Asia/Calcutta", "Asia/Kolkata"),  # an old alias some browsers report: its canonical zone
])
def test_setup_preselects_the_browsers_time_zone(browser, live_server, browser_zone, expected):
    context = browser.new_context(timezone_id=browser_zone)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/setup")
        select = page.locator('select[name="timezone"]')
        page.wait_for_function("document.querySelector('select[name=timezone]').value !== 'UTC'")
        assert select.input_value() == expected
    finally:
        context.close()
