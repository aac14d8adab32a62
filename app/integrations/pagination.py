"""Pagination helpers: each yields the pages (lists of records) of a listing.

Every page is a `Page`: a list of records with `resume`, the value to pass
as `start` to continue right after it (None after the last page). The sync
engine saves `resume` in the same transaction as the page, so an import
that stops half way picks up where it stopped.

Where a record list or a cursor sits in the JSON body is told with a key
("next_cursor"), a path of keys (("response_metadata", "next_cursor")) or
a function of the body; no key means the body itself is the list.

Every helper ends: a cursor, token or link that repeats the one just used
stops the listing with a PermanentError (a server that answers "not the last
page" with the same token would otherwise be asked forever), and so does a
listing that runs past `max_pages` (a server that ignores the offset, or hands
out new cursors forever). The engine records the error as the run's reason.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence, Union

from app import tuning
from app.integrations.http import PermanentError, ProviderClient

Locator = Union[str, Sequence[str], Callable[[Any], Any], None]


class Page(list):
    """`etag`: the provider's ETag of this page, when it sends one; `not_modified`: the
    provider answered 304 to a conditional request, so the page holds no records and
    the caller's copy is current."""

    def __init__(self, records: list, resume: Any, *, etag: str | None = None, not_modified: bool = False):
        super().__init__(records)
        self.resume = resume
        self.etag = etag
        self.not_modified = not_modified


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


class _PageBound:
    """Counts the pages of one listing against `max_pages`."""

    def __init__(self, provider_name: str, max_pages: int):
        self._provider_name = provider_name
        self._max_pages = max_pages
        self._pages = 0

    def count(self) -> None:
        self._pages += 1
        if self._pages > self._max_pages:
            raise PermanentError(f"{self._provider_name} kept answering past {self._max_pages} pages; "
                                 "the listing was stopped")


def link_header_pages(client: ProviderClient, path: str, *, params: dict | None = None,
                      records: Locator = None, start: str | None = None, if_none_match: str | None = None,
                      max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[Page]:
    """Follow `Link: <url>; rel="next"` (GitHub, GitLab). `resume` is the next page's URL.

    `if_none_match`: the ETag the first page had last time. The first request is then
    conditional; a 304 yields one empty Page with `not_modified` and ends the listing
    (GitHub does not count such an answer against the rate limit)."""
    bound = _PageBound(client.provider_name, max_pages)
    target, query = (start, None) if start else (path, params)
    condition = {"If-None-Match": if_none_match} if if_none_match else None
    while target:
        bound.count()
        response = client.request("GET", target, params=query, headers=condition)
        if response.status_code == 304:
            yield Page([], None, etag=if_none_match, not_modified=True)
            return
        condition = None
        link = response.links.get("next", {}).get("url")
        following = str(response.url.join(link)) if link else None  # a relative link is relative to this page
        yield Page(_records(response.json(), records, client.provider_name), following,
                   etag=response.headers.get("ETag"))
        if following == target:
            raise PermanentError(f"{client.provider_name} linked a page to itself")
        target, query = following, None


def cursor_pages(client: ProviderClient, path: str, *, params: dict | None = None, records: Locator = None,
                 next_cursor: Locator = "next_cursor", cursor_param: str | None = "cursor",
                 start: Any = None, max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[Page]:
    """The body names the next page: a cursor or token sent back as `cursor_param`
    (Slack, Google, Asana), or, with `cursor_param=None`, the next page's URL
    (Microsoft Graph's "@odata.nextLink"). An empty or missing cursor ends the listing."""
    def fetch(cursor: Any) -> Any:
        if cursor is None:
            return client.get_json(path, params=params)
        if cursor_param is None:
            return client.get_json(cursor)
        return client.get_json(path, params={**(params or {}), cursor_param: cursor})

    return _follow_cursors(client.provider_name, fetch, records, next_cursor, start, max_pages)


def body_cursor_pages(client: ProviderClient, path: str, *, body: dict, cursor_field: str, records: Locator,
                      next_cursor: Locator, start: Any = None,
                      max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[Page]:
    """A search whose query goes in a POST body, and so does the next page's token
    (Jira's enhanced JQL search: `nextPageToken`). Such a POST only reads, so it is
    retried like a GET."""
    def fetch(cursor: Any) -> Any:
        sent = body if cursor is None else {**body, cursor_field: cursor}
        return client.request("POST", path, json=sent, read_only=True).json()

    return _follow_cursors(client.provider_name, fetch, records, next_cursor, start, max_pages)


def _follow_cursors(provider_name: str, fetch: Callable[[Any], Any], records: Locator, next_cursor: Locator,
                    start: Any, max_pages: int) -> Iterator[Page]:
    bound = _PageBound(provider_name, max_pages)
    cursor = start
    while True:
        bound.count()
        answer = fetch(cursor)
        following = locate(answer, next_cursor) or None
        yield Page(_records(answer, records, provider_name), following)
        if following is None:
            return
        if following == cursor:
            raise PermanentError(f"{provider_name} repeated a page cursor")
        cursor = following


def offset_pages(client: ProviderClient, path: str, *, page_size: int, params: dict | None = None,
                 records: Locator = None, offset_param: str = "offset", limit_param: str = "limit",
                 total: Locator = None, start: int = 0, max_pages: int = tuning.MAX_PAGES_PER_LISTING
                 ) -> Iterator[Page]:
    """`offset` + `limit` (Jira: startAt/maxResults/total). The listing ends at an
    empty page, at a page shorter than `page_size`, or when `total` is reached, so
    `page_size` must not exceed the most the provider returns per page. (A server
    that ignores the offset answers the same page again: that stops the listing.)"""
    bound = _PageBound(client.provider_name, max_pages)
    offset = start
    previous = None
    while True:
        bound.count()
        body = client.get_json(path, params={**(params or {}), offset_param: offset, limit_param: page_size})
        found = _records(body, records, client.provider_name)
        if found and found == previous:  # the offset was ignored: counting on would import a page twice
            raise PermanentError(f"{client.provider_name} repeated a page of {path} for another offset")
        previous = found
        offset += len(found)
        known_total = locate(body, total) if total is not None else None
        finished = (len(found) < page_size
                    or (isinstance(known_total, int) and offset >= known_total))
        yield Page(found, None if finished else offset)
        if finished:
            return


class DeltaPage(Page):
    """A page of a change listing: `resume` continues this listing (None on its last
    page); `follow_up`, on the last page only, starts the next read of changes."""

    def __init__(self, records: list, resume: Any, follow_up: Any = None):
        super().__init__(records, resume)
        self.follow_up = follow_up


def delta_pages(client: ProviderClient, path: str, *, params: dict | None = None, records: Locator,
                next_page: Locator, follow_up: Locator, page_param: str | None, start: Any = None,
                headers: dict[str, str] | None = None,
                max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[DeltaPage]:
    """A listing of changes whose last page hands out what starts the next one: Google's
    `nextPageToken` then `nextSyncToken`, Graph's `@odata.nextLink` then `@odata.deltaLink`.
    `page_param` is the query parameter the page token goes back in, or None when
    `next_page` is the next page's URL; `start` resumes at a page token (or URL);
    `headers` go with every request (Graph's `Prefer`)."""
    def fetch(cursor: Any) -> Any:
        if cursor is None:
            return client.get_json(path, params=params, headers=headers)
        if page_param is None:
            return client.get_json(cursor, headers=headers)
        return client.get_json(path, params={**(params or {}), page_param: cursor}, headers=headers)

    bound = _PageBound(client.provider_name, max_pages)
    cursor = start
    while True:
        bound.count()
        answer = fetch(cursor)
        following = locate(answer, next_page) or None
        if following is None:
            token = locate(answer, follow_up) or None
            if token is None:
                raise PermanentError(f"{client.provider_name} ended a change listing without a token "
                                     "for the next read")
            yield DeltaPage(_records(answer, records, client.provider_name), None, token)
            return
        yield DeltaPage(_records(answer, records, client.provider_name), following)
        if following == cursor:
            raise PermanentError(f"{client.provider_name} repeated a page cursor")
        cursor = following


def sync_token_pages(client: ProviderClient, path: str, *, token: str, params: dict | None = None,
                     records: Locator = "data", token_field: Locator = "sync", more_field: Locator = "has_more",
                     token_param: str = "sync", max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[Page]:
    """An event stream read from a sync token (Asana's /events): each answer holds the
    changes since the token sent and a new token, and says whether more follow at once
    (`more_field`). Unlike the listings above, every page's `resume` is a token, the last
    page's too: it is where the next run starts. A token the provider no longer accepts
    is the caller's (Asana answers 412 with a fresh token in the error body)."""
    bound = _PageBound(client.provider_name, max_pages)
    while True:
        bound.count()
        answer = client.get_json(path, params={**(params or {}), token_param: token})
        following = locate(answer, token_field)
        if not following:
            raise PermanentError(f"{client.provider_name} answered an event page without a sync token")
        page = Page(_records(answer, records, client.provider_name), following)
        page.more = bool(locate(answer, more_field))
        yield page
        if not page.more:
            return
        if following == token:
            raise PermanentError(f"{client.provider_name} repeated a sync token")
        token = following


def numbered_pages(client: ProviderClient, path: str, *, page_size: int, params_for: Callable[[int], dict],
                   records: Locator, first: int = 1, by_records: bool = False, headers: dict | None = None,
                   start: int | None = None, max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[Page]:
    """Pages named by a number the caller puts where the provider wants it (`params_for(position)`):
    Xero's `page=1, 2, ...` (`by_records=False`: the position counts pages), or QuickBooks'
    `STARTPOSITION` inside its query text (`by_records=True`: the position counts records, from 1).
    The listing ends at a page shorter than `page_size`, so `page_size` must be what the provider
    really returns per full page; a server that ignores the position is stopped by `max_pages`."""
    bound = _PageBound(client.provider_name, max_pages)
    position = first if start is None else start
    while True:
        bound.count()
        body = client.get_json(path, params=params_for(position), headers=headers)
        found = _records(body, records, client.provider_name)
        position += len(found) if by_records else 1
        finished = len(found) < page_size
        yield Page(found, None if finished else position)
        if finished:
            return


def graphql_pages(client: ProviderClient, url: str, *, query: str, variables: dict, connection: Locator,
                  cursor_variable: str = "after", start: str | None = None,
                  max_pages: int = tuning.MAX_PAGES_PER_LISTING) -> Iterator[Page]:
    """A GraphQL connection (`nodes` and `pageInfo { hasNextPage endCursor }`) at
    `connection` inside the answer's `data`, paged by sending `endCursor` back as the
    `cursor_variable` of the query (GitLab). A query only reads, so it is retried like a GET;
    an answer with `errors` and no data stops the listing with a PermanentError."""
    def fetch(cursor: Any) -> Any:
        sent = variables if cursor is None else {**variables, cursor_variable: cursor}
        answer = client.request("POST", url, json={"query": query, "variables": sent}, read_only=True).json()
        found = locate((answer or {}).get("data"), connection) if isinstance(answer, dict) else None
        if found is None and isinstance(answer, dict) and answer.get("errors"):
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in answer["errors"])
            raise PermanentError(f"{client.provider_name} refused the query: {messages[:300]}")
        return found or {}

    def following(found: Any) -> Any:
        info = found.get("pageInfo") or {} if isinstance(found, dict) else {}
        return info.get("endCursor") if info.get("hasNextPage") else None

    return _follow_cursors(client.provider_name, fetch, "nodes", following, start, max_pages)
