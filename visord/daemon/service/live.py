"""The live page: `GET /` (or `/live`) on the daemon's HTTP endpoint, behind its TLS and basic auth.

Owns the page's files (`static/live.html`, `live.js`, `live.css`: plain HTML, CSS and a little
JavaScript, no build step) and the one way a request reaches them: a fixed table from URL path to
file name, read from the installed package when the daemon starts. No part of a request ever
becomes a file name, so nothing outside the static folder can be served, whatever the path says
(`..`, encoded slashes, other files of the package). The page itself reads `/api/status`,
`/api/events` and the stream and snapshot images (`visord.daemon.service.api`).
"""

from __future__ import annotations

from visord.contract.pages import SECURITY_HEADERS, read_static
from visord.daemon.service.api import Reply

# URL path -> (file in static/, content type); nothing else is served
PAGES = {
    "/": ("live.html", "text/html; charset=utf-8"),
    "/live": ("live.html", "text/html; charset=utf-8"),
    "/live/live.js": ("live.js", "text/javascript; charset=utf-8"),
    "/live/live.css": ("live.css", "text/css; charset=utf-8"),
}
# the page shows each camera's frame in the tiles of all its regions from one fetch, as a blob:
# URL its script makes (only same-origin script can make one)
HEADERS = SECURITY_HEADERS | {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", "img-src 'self' data: blob:"
    ),
}
assert "blob:" in HEADERS["Content-Security-Policy"]


class LivePage:
    """The page's files, read once (a package installed without them fails at start, not at the
    first visit)."""

    def __init__(self) -> None:
        self.files = read_static("visord.daemon.service", PAGES, "live page")

    def handle(self, path: str) -> Reply | None:
        """The file for `path` (without its query), or None when the path is not the page's."""
        found = self.files.get(path)
        if found is None:
            return None
        body, kind = found
        return Reply(200, body, kind, dict(HEADERS))
