"""Pagination helpers: each yields the pages (lists of records) of a listing.

Every page is a `Page`: a list of records with `resume`, the value to pass
as `start` to continue right after it (None after the last page). The sync
engine saves `resume` in the same transaction as the page, so an import
that stops half way picks up where it stopped.

Where a record list or a cursor sits in the JSON body is told with a key
("next_cursor"), a path of keys (("response_metadata", "next_cursor")) or
a function of the body; no key means the body itself is the list.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence, Union

from app.integrations.http import PermanentError, ProviderClient

Locator = Union[str, Sequence[str], Callable[[Any], Any], None]


class Page(list):
    def __init__(self, records: list, resume: Any):
        super().__init__(records)
        self.resume = resume


def locate(body: Any, where: Locator) -> Any:
    if where is None:
        return body
    if callable(where):
        return where(body)
    for key in [where] if isinstance(where, str) else where:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _records(body: Any, where: Locator, provider_name: str) -> list:
    found = locate(body, where)
    if found is None:
        return []
    if not isinstance(found, list):
        raise PermanentError(f"{provider_name} answered a listing without a list of records")
    return found


def link_header_pages(client: ProviderClient, path: str, *, params: dict | None = None,
                      records: Locator = None, start: str | None = None) -> Iterator[Page]:
    """Follow `Link: <url>; rel="next"` (GitHub, GitLab). `resume` is the next page's URL."""
    target, query = (start, None) if start else (path, params)
    while target:
        response = client.request("GET", target, params=query)
        link = response.links.get("next", {}).get("url")
        following = str(response.url.join(link)) if link else None  # a relative link is relative to this page
        yield Page(_records(response.json(), records, client.provider_name), following)
        if following == target:
            raise PermanentError(f"{client.provider_name} linked a page to itself")
        target, query = following, None


def cursor_pages(client: ProviderClient, path: str, *, params: dict | None = None, records: Locator = None,
                 next_cursor: Locator = "next_cursor", cursor_param: str | None = "cursor",
                 start: Any = None) -> Iterator[Page]:
    """The body names the next page: a cursor or token sent back as `cursor_param`
    (Slack, Google, Asana, Jira's nextPageToken), or, with `cursor_param=None`,
    the next page's URL (Microsoft Graph's "@odata.nextLink"). An empty or
    missing cursor ends the listing."""
    cursor = start
    while True:
        if cursor is None:
            target, query = path, params
        elif cursor_param is None:
            target, query = cursor, None
        else:
            target, query = path, {**(params or {}), cursor_param: cursor}
        body = client.get_json(target, params=query)
        following = locate(body, next_cursor) or None
        yield Page(_records(body, records, client.provider_name), following)
        if following is None:
            return
        if following == cursor:
            raise PermanentError(f"{client.provider_name} repeated a page cursor")
        cursor = following


def offset_pages(client: ProviderClient, path: str, *, page_size: int, params: dict | None = None,
                 records: Locator = None, offset_param: str = "offset", limit_param: str = "limit",
                 total: Locator = None, start: int = 0) -> Iterator[Page]:
    """`offset` + `limit` (Jira: startAt/maxResults/total). The listing ends at an
    empty page, at a page shorter than `page_size`, or when `total` is reached, so
    `page_size` must not exceed the most the provider returns per page."""
    offset = start
    while True:
        body = client.get_json(path, params={**(params or {}), offset_param: offset, limit_param: page_size})
        found = _records(body, records, client.provider_name)
        offset += len(found)
        known_total = locate(body, total) if total is not None else None
        finished = (len(found) < page_size
                    or (isinstance(known_total, int) and offset >= known_total))
        yield Page(found, None if finished else offset)
        if finished:
            return
