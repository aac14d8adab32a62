"""The time zones users can pick: the IANA database's canonical location zones.

`zoneinfo.available_timezones()` also holds every backward-compatible alias
(US/Eastern, Asia/Calcutta, Europe/Kiev, GB, ...): about 600 names, many of
them deprecated. The lists the tz project maintains for pickers are
zone1970.tab (one zone per region with its own clocks since 1970) and
zone.tab (one per country, e.g. Europe/Amsterdam, which zone1970.tab folds
into Europe/Brussels). We offer their union, read from the `tzdata` package
(a dependency already), plus UTC; a saved zone outside it stays valid (see
user_service.timezone_choices).
"""
from __future__ import annotations

from importlib import resources
from zoneinfo import available_timezones

TABLES = ("zone1970.tab", "zone.tab")


def _zones_in(table: str) -> set[str]:
    """The zone names of one tab file: the third column of each non-comment line."""
    text = resources.files("tzdata.zoneinfo").joinpath(table).read_text(encoding="utf-8")
    return {line.split("\t")[2] for line in text.splitlines() if line and not line.startswith("#")}


def canonical_timezones() -> list[str]:
    listed = set().union(*(_zones_in(table) for table in TABLES))
    return ["UTC"] + sorted(listed & available_timezones())


COMMON_TIMEZONES: list[str] = canonical_timezones()
