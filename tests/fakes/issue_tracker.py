"""What the fake GitHub and the fake GitLab share: their issue store (issues numbered within
a repository or project), offset pages linked in the `Link` header, and webhook deliveries
POSTed to the app (their injected faults are tests/fakes/injected_faults.py, as Jira's).

Each fake keeps what is its provider's own: its error bodies, its rate limits, its JSON, its
headers and how it signs (GitHub an HMAC, GitLab a secret token)."""
from __future__ import annotations

import math
import urllib.error
import urllib.request
from datetime import datetime, timezone
from urllib.parse import urlencode

from werkzeug.wrappers import Request



class NumberedIssues:
    """Issues by container path, numbered in their container (GitHub's `number`, GitLab's
    `iid`). The fake provides `_lock`, `_ids`, `issues` and `_container(path)` (the
    repository or project, holding its `counter`)."""

    number_key = "number"

    def _container(self, path: str) -> dict:
        raise NotImplementedError

    def _new_issue(self, path: str, title: str, *, state: str, labels: tuple[str, ...], assignee: str | None,
                   updated: datetime | None, **extra) -> dict:
        with self._lock:
            container = self._container(path)
            container["counter"] += 1
            moment = updated or datetime.now(timezone.utc)
            issue = {"id": next(self._ids), self.number_key: container["counter"], "title": title, "state": state,
                     "labels": list(labels), "assignee": assignee, **extra, "created": moment, "updated": moment}
            self.issues[path].append(issue)
            return issue

    def update_issue(self, path: str, number: int, *, updated: datetime | None = None, **changes) -> dict:
        with self._lock:
            issue = self._issue(path, number)
            issue.update(changes)
            issue["updated"] = updated or datetime.now(timezone.utc)
            return issue

    def delete_issue(self, path: str, number: int) -> dict:
        with self._lock:
            issue = self._issue(path, number)
            self.issues[path].remove(issue)
            return issue

    def _issue(self, path: str, number: int) -> dict:
        return next(i for i in self.issues[path] if i[self.number_key] == number)


def offset_page(request: Request, items: list, as_json, *, size: int, page: int) -> list:
    """Page `page` (from 1) of `items` at `size` a page, turned into JSON only when served; the
    `Link` header (next, last, first, prev by absolute URL) goes in `request.environ`."""
    last = max(math.ceil(len(items) / size), 1)
    others = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]

    def url(number: int) -> str:
        return f"{request.base_url}?{urlencode([*others, ('page', number)])}"

    links = []
    if page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
    if links:
        request.environ["fake.link"] = ", ".join(links)
    return [as_json(item) for item in items[(page - 1) * size: page * size]]


def post_delivery(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST one webhook delivery as the provider does; the receiver's status (0: unreachable)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
