"""The label page's server for its tests, with real requests to 127.0.0.1.

`serving` runs `visord.label.server.make_server` over a `Labeller` of a data set in a thread on a
free port (optionally with a token, another listening address and a model's `Review`) and always
shuts it down; `page_url` is the address a browser opens; `request` is one request to it, or to
the page address a `visord label` subprocess printed, and answers (status, headers, body): parsed
JSON when the answer is JSON, else bytes. Beside them, what the label tests read back and share:
`journal` (the entries of `labels.jsonl`), `in_folder` (the crops in a class folder), and two data
sets for `visord.label.sample`: `STACKS_SCENE` (a scene of look-alike crops, for `write_scene`)
and `MISTAKES_VALIDATION` (a run's validation images with some wrong, for `write_run`).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from visord.label.actions import Labeller
from visord.label.review import Review
from visord.label.server import LabelServer, make_server

# Two streams: the hall's empty scene five times and once with a speck (one stack at the
# default threshold), two people; the gate's empty scene twice (a stack) and a person.
STACKS_SCENE = [
    ("hall", "empty", 0.9),
    ("hall", "empty", 0.91),
    ("hall", "empty", 0.92),
    ("hall", "empty", 0.93),
    ("hall", "empty", 0.94),
    ("hall", "speck", 0.95),
    ("hall", "person-10", 0.6),
    ("hall", "person-50", 0.7),
    ("gate", "empty", 0.8),
    ("gate", "empty", 0.85),
    ("gate", "person-30", 0.5),
]
# A run's validation images, (class, the network's scores for empty and people): half wrong.
MISTAKES_VALIDATION = [
    ("empty", (0.99, 0.01)),
    ("empty", (0.4, 0.6)),  # wrong
    ("empty", (0.1, 0.9)),  # wrong, sure
    ("people", (0.02, 0.98)),
    ("people", (0.8, 0.2)),  # wrong
    ("people", (0.3, 0.7)),
]


@contextmanager
def serving(
    root: Path | Labeller,
    review: Review | None = None,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
) -> Iterator[LabelServer]:
    """The label server of the data set at `root` (or of a `Labeller` already built), serving
    until the block ends."""
    labeller = root if isinstance(root, Labeller) else Labeller(root)
    server = make_server(labeller, host, 0, token, review)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def page_url(server: LabelServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


def request(
    server: LabelServer | str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> tuple[int, Any, Any]:
    """One request to 127.0.0.1 (whatever address the server is bound to), to a server of this
    process or to the page address a `visord label` printed: `body` is sent as JSON, `raw_body`
    as it is. Answers (status, headers, body as JSON when it is JSON, else bytes)."""
    port = urlsplit(server).port if isinstance(server, str) else server.port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = dict(headers or {})
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    if response.getheader("Content-Type", "").startswith("application/json"):
        payload = json.loads(payload)
    return response.status, response.headers, payload


def journal(root: Path) -> list[dict]:
    """The entries of the data set's `labels.jsonl`, oldest first."""
    return [json.loads(line) for line in (root / ".visord/labels.jsonl").read_text().splitlines()]


def in_folder(root: Path, folder: str) -> list[str]:
    """The names of the crops in one folder of the data set, sorted."""
    return sorted(path.stem for path in (root / folder).glob("*.jpg"))
