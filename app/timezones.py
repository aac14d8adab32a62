"""The time zones users can pick, from the IANA database."""
from zoneinfo import available_timezones

COMMON_TIMEZONES: list[str] = ["UTC"] + sorted(
    zone for zone in available_timezones()
    if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
)
