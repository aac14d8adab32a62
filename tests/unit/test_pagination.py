"""Every paging helper ends: on the last page, on a server that repeats its cursor,
token or link, and on one that keeps answering past a sane number of pages.
Served by httpx2.MockTransport; the helpers' own code is what runs."""
from __future__ import annotations

import json

import httpx2
import pytest

from app.integrations.http import PermanentError, ProviderClient, RetryPolicy
from app.integrations.pagination import (
    body_cursor_pages,
    cursor_pages,
    graphql_pages,
    link_header_pages,
    offset_pages,
)

BASE = "https://api.example.test/1"


def client_for(handler) -> ProviderClient:
    return ProviderClient("Example", BASE, transport=httpx2.MockTransport(handler),
                          retry=RetryPolicy(max_attempts=1), sleep=lambda _s: None)


def collected(pages, limit: int = 50) -> list:
    """The pages a helper yields, or the error it stopped with; never more than `limit`."""
    seen = []
    for page in pages:
        seen.append(list(page))
        assert len(seen) <= limit, "the helper kept asking"
    return seen


def test_cursor_pages_follow_the_cursor_to_the_end():
    def handler(request):
        cursor = request.url.params.get("cursor")
        return httpx2.Response(200, json={"data": [cursor or "first"], "next_cursor": "two" if cursor is None else ""})
    assert collected(cursor_pages(client_for(handler), "items", records="data")) == [["first"], ["two"]]


def test_cursor_pages_stop_when_the_server_repeats_its_cursor():
    def handler(request):
        return httpx2.Response(200, json={"data": [1], "next_cursor": "same"})
    with pytest.raises(PermanentError, match="repeated a page cursor"):
        collected(cursor_pages(client_for(handler), "items", records="data"))


def test_body_cursor_pages_stop_when_a_search_repeats_its_token():
    """Jira's enhanced search answering "not the last page" with the token it was sent."""
    sent = []

    def handler(request):
        body = json.loads(request.content)
        sent.append(body.get("nextPageToken"))
        return httpx2.Response(200, json={"issues": [{"id": len(sent)}], "isLast": False, "nextPageToken": "again"})
    pages = body_cursor_pages(client_for(handler), "search", body={"jql": "x"}, cursor_field="nextPageToken",
                              records="issues",
                              next_cursor=lambda answer: None if answer.get("isLast") else answer.get("nextPageToken"))
    with pytest.raises(PermanentError, match="repeated a page cursor"):
        collected(pages)
    assert sent == [None, "again"]


def test_body_cursor_pages_end_on_the_last_page():
    def handler(request):
        token = json.loads(request.content).get("nextPageToken")
        return httpx2.Response(200, json={"issues": [token], "isLast": token == "t2", "nextPageToken": "t2"})
    pages = body_cursor_pages(client_for(handler), "search", body={}, cursor_field="nextPageToken", records="issues",
                              next_cursor=lambda answer: None if answer.get("isLast") else answer.get("nextPageToken"))
    assert collected(pages) == [[None], ["t2"]]


def test_link_header_pages_stop_when_a_page_links_to_itself():
    def handler(request):
        return httpx2.Response(200, json=[1], headers={"Link": f'<{BASE}/items?page=2>; rel="next"'})
    with pytest.raises(PermanentError, match="linked a page to itself"):
        collected(link_header_pages(client_for(handler), "items"))


def test_offset_pages_stop_when_the_server_ignores_the_offset_and_states_no_total():
    asked = []

    def handler(request):
        asked.append(request.url.params["offset"])
        return httpx2.Response(200, json={"items": [1, 2]})  # always the same full page
    with pytest.raises(PermanentError, match="repeated a page of items"):
        collected(offset_pages(client_for(handler), "items", page_size=2, records="items", max_pages=5))
    assert asked == ["0", "2"]  # the repeat is seen on the second page, not after max_pages


def test_offset_pages_stop_past_max_pages_when_full_pages_never_end():
    def handler(request):
        offset = int(request.url.params["offset"])
        return httpx2.Response(200, json={"items": [offset, offset + 1]})  # new records forever, no total
    with pytest.raises(PermanentError, match="past 5 pages"):
        collected(offset_pages(client_for(handler), "items", page_size=2, records="items", max_pages=5))


def test_cursor_pages_stop_when_new_cursors_never_end():
    def handler(request):
        return httpx2.Response(200, json={"data": [1], "next_cursor": f"c{request.url.params.get('cursor')}"})
    with pytest.raises(PermanentError, match="past 3 pages"):
        collected(cursor_pages(client_for(handler), "items", records="data", max_pages=3))


def test_delta_pages_end_with_the_token_for_the_next_read():
    from app.integrations.pagination import delta_pages

    def handler(request):
        token = request.url.params.get("pageToken")
        if token is None:
            return httpx2.Response(200, json={"items": [1], "nextPageToken": "p2"})
        return httpx2.Response(200, json={"items": [2], "nextSyncToken": "s1"})
    pages = list(delta_pages(client_for(handler), "events", records="items", next_page="nextPageToken",
                             follow_up="nextSyncToken", page_param="pageToken"))
    assert [(list(p), p.resume, p.follow_up) for p in pages] == [([1], "p2", None), ([2], None, "s1")]


def test_delta_pages_stop_on_a_repeated_link_and_on_a_last_page_without_a_token():
    from app.integrations.pagination import delta_pages

    def repeating(request):
        return httpx2.Response(200, json={"value": [1], "@odata.nextLink": BASE + "/events?$skiptoken=same"})
    with pytest.raises(PermanentError, match="repeated"):
        collected(delta_pages(client_for(repeating), "events", records="value", next_page="@odata.nextLink",
                              follow_up="@odata.deltaLink", page_param=None))

    def tokenless(request):
        return httpx2.Response(200, json={"value": [1]})
    with pytest.raises(PermanentError, match="without a token"):
        collected(delta_pages(client_for(tokenless), "events", records="value", next_page="@odata.nextLink",
                              follow_up="@odata.deltaLink", page_param=None))


def test_delta_pages_stop_when_new_links_never_end():
    from app.integrations.pagination import delta_pages

    counter = iter(range(10**6))

    def endless(request):
        return httpx2.Response(200, json={"value": [1], "nextPageToken": f"t{next(counter)}"})
    with pytest.raises(PermanentError, match="past 3 pages"):
        collected(delta_pages(client_for(endless), "events", records="value", next_page="nextPageToken",
                              follow_up="nextSyncToken", page_param="pageToken", max_pages=3))


def test_link_header_pages_ask_conditionally_and_end_on_a_304():
    """The first page's request carries the ETag; a 304 is one empty page saying so."""
    seen = []

    def handler(request):
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx2.Response(304, headers={"ETag": '"v1"'})
        return httpx2.Response(200, json=[1], headers={"ETag": '"v2"'})
    [page] = list(link_header_pages(client_for(handler), "items", if_none_match='"v1"'))
    assert (list(page), page.not_modified, page.etag, page.resume) == ([], True, '"v1"', None)
    [fresh] = list(link_header_pages(client_for(handler), "items", if_none_match='"old"'))
    assert (list(fresh), fresh.not_modified, fresh.etag) == ([1], False, '"v2"')
    assert seen == ['"v1"', '"old"']


def test_a_304_to_a_request_that_was_not_conditional_is_an_error():
    client = client_for(lambda request: httpx2.Response(304))
    with pytest.raises(PermanentError):
        client.request("GET", "items")


GRAPHQL = "query($after: String) { things(after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }"


def graphql_answer(nodes, more: bool, end: str | None):
    return httpx2.Response(200, json={"data": {"things": {"nodes": nodes,
                                                          "pageInfo": {"hasNextPage": more, "endCursor": end}}}})


def test_graphql_pages_send_the_end_cursor_back_as_a_variable_until_the_last_page():
    sent = []

    def handler(request):
        variables = json.loads(request.content)["variables"]
        sent.append(variables.get("after"))
        return graphql_answer([{"id": len(sent)}], more=len(sent) < 2, end=f"c{len(sent)}")
    pages = graphql_pages(client_for(handler), f"{BASE}/graphql", query=GRAPHQL, variables={"x": 1},
                          connection="things")
    assert collected(pages) == [[{"id": 1}], [{"id": 2}]]
    assert sent == [None, "c1"]


def test_graphql_pages_stop_when_the_server_repeats_its_cursor_or_answers_errors():
    repeating = client_for(lambda request: graphql_answer([{"id": 1}], more=True, end="same"))
    with pytest.raises(PermanentError, match="repeated a page cursor"):
        collected(graphql_pages(repeating, "graphql", query=GRAPHQL, variables={}, connection="things"))
    refusing = client_for(lambda request: httpx2.Response(200, json={"data": None,
                                                                     "errors": [{"message": "no such field"}]}))
    with pytest.raises(PermanentError, match="no such field"):
        collected(graphql_pages(refusing, "graphql", query=GRAPHQL, variables={}, connection="things"))
