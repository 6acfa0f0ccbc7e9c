"""The events API under `/api/` on the daemon's HTTP endpoint (the one serving `/metrics`, with its
TLS and basic auth).

- `GET /api/events?stream=&label=&since=&until=&limit=&before=`: the newest events in memory
  (`events.history`), newest first, as `{"events": [...], "next": URL or null}`; each event is
  its JSON line plus `id` and, when it has a snapshot, `snapshot_url` and `crop_url`. `since` and
  `until` are epoch seconds or ISO 8601 times; `before` is the id of the last event of the
  previous page (the `next` URL carries it).
- `GET /api/events/<id>/snapshot.jpg` and `/crop.jpg`: the event's snapshot files.
- `GET /api/streams/<name>/latest.jpg?width=&outline=`: the stream's latest classified frame, the
  region outlined unless `outline=0` (encoded on demand, cached for a fraction of a second, and
  without the outline shared by the regions of a camera: `visord.daemon.events.latest`).
- `GET /api/status`: what the live page shows (`Runtime.status()`: the router's budget use, each
  stream's camera, state, region, last answer, route and rates), whether snapshots are on, and
  the label page's address (`metrics.label_page`, null when not set).

The one way from a request to a file: an id must be a whole event id (`<stream>-<epoch ms>`: no
dot, no slash, no percent sign; anything else is refused with 400 before the disk is looked at),
the file is that name in the snapshot folder and opened with `O_NOFOLLOW` (a symlink planted
there is refused with 404, like a missing file), and it must be a regular file. Errors are JSON
`{"error": "..."}`.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode

from visord.daemon.config.base import check_name
from visord.daemon.events.history import Entry, Query
from visord.daemon.events.pipeline import EventPipeline
from visord.daemon.events.snapshots import files_of, is_event_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
JPEG = "image/jpeg"
JSON = "application/json"
MIN_WIDTH = 32  # the narrowest latest frame a page may ask for
PARAMETERS = ("stream", "label", "since", "until", "limit", "before")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str, **extra: object) -> Reply:
    return Reply(status, json.dumps({"error": message, **extra}).encode())


class EventsApi:
    """Answers `/api/...` paths. streams: the names of the running streams (for latest.jpg)."""

    def __init__(
        self,
        pipeline: EventPipeline,
        streams: Callable[[], Iterable[str]],
        status: Callable[[], dict] | None = None,
        label_page: Callable[[], str | None] = lambda: None,
    ):
        """label_page: the label page's address as the running config has it now."""
        self.pipeline = pipeline
        self.streams = streams
        self.status = status
        self.label_page = label_page

    def handle(self, raw_path: str) -> Reply:
        """One GET: `raw_path` as the request line has it (path and query)."""
        path, _, query = raw_path.partition("?")
        try:
            parts = _segments(path)
            if parts == ["api", "events"]:
                return self._events(query)
            if parts == ["api", "status"] and self.status is not None:
                return self._status(query)
            if len(parts) == 4 and parts[:2] == ["api", "events"]:
                return self._snapshot_file(parts[2], parts[3])
            if len(parts) == 4 and parts[:2] == ["api", "streams"] and parts[3] == "latest.jpg":
                return self._latest(parts[2], query)
        except Refused as refused:
            return error(refused.status, refused.message)
        return error(
            404,
            "not found: try /api/status, /api/events, /api/events/<id>/snapshot.jpg, "
            "/api/events/<id>/crop.jpg or /api/streams/<name>/latest.jpg",
        )

    # -- the event list

    def _events(self, raw_query: str) -> Reply:
        query = parse_query(raw_query)
        found, more = self.pipeline.history.page(query)
        listed = [self._listed(entry) for entry in found]
        next_url = None
        if more and found:
            keep = {
                name: value
                for name, value in _query_pairs(raw_query)
                if name != "before" and value != ""
            }
            next_url = "/api/events?" + urlencode({**keep, "before": found[-1].event_id})
        return Reply(200, json.dumps({"events": listed, "next": next_url}).encode())

    @staticmethod
    def _listed(entry: Entry) -> dict:
        listed = {"id": entry.event_id, **entry.event.to_dict()}
        if entry.event.snapshot is not None:
            base = f"/api/events/{entry.event.snapshot}"
            listed["snapshot_url"] = f"{base}/snapshot.jpg"
            listed["crop_url"] = f"{base}/crop.jpg"
        return listed

    # -- the live page's state

    def _status(self, raw_query: str) -> Reply:
        if raw_query:
            raise Refused(400, "/api/status takes no parameters")
        answer = self.status() | {
            "snapshots": self.pipeline.snapshots.root is not None,
            "label_page": self.label_page(),
        }
        return Reply(200, json.dumps(answer).encode(), JSON, {"Cache-Control": "no-store"})

    # -- files

    def _snapshot_file(self, event_id: str, name: str) -> Reply:
        if name not in ("snapshot.jpg", "crop.jpg"):
            raise Refused(404, f"not found: {name[:60]!r} (snapshot.jpg or crop.jpg)")
        if not is_event_id(event_id):
            raise Refused(400, f"not an event id: {event_id[:80]!r}")
        root = self.pipeline.snapshots.root
        if root is None:
            raise Refused(404, "snapshots are off (events.snapshots.enabled)")
        frame, crop = files_of(root, event_id)
        data = read_inside(frame if name == "snapshot.jpg" else crop)
        # a snapshot never changes once written
        return Reply(200, data, JPEG, {"Cache-Control": "private, max-age=86400, immutable"})

    def _latest(self, stream: str, query: str) -> Reply:
        """The frame at `snapshots.max_width`, or narrower with `?width=N` (a page's tiles: a
        smaller frame is several times cheaper to encode); `outline=0` leaves the region undrawn
        (the live page draws it: the camera's regions then share one encode of a frame); `t` (a
        page's cache-buster) is ignored."""
        names = sorted(self.streams())
        if stream not in names:
            shown = stream[:80]
            return error(404, f"unknown stream {shown!r}", streams=names)
        settings = self.pipeline.snapshots.settings
        width = settings.max_width
        outlined = True
        for name, value in parse_qs(query, keep_blank_values=True).items():
            if name == "width":
                if len(value) != 1 or not value[0].isdigit() or int(value[0]) < MIN_WIDTH:
                    raise Refused(400, f"width: a whole number of pixels, at least {MIN_WIDTH}")
                width = min(width, int(value[0]))
            elif name == "outline":
                if value not in (["0"], ["1"]):
                    raise Refused(400, "outline: 0 (the frame as it is) or 1 (the default)")
                outlined = value == ["1"]
            elif name != "t":
                raise Refused(400, f"unknown parameter {name[:40]!r} (valid: width, outline, t)")
        found = self.pipeline.latest.jpeg(stream, width, settings.quality, outlined)
        if found is None:
            return error(503, f"stream {stream!r} has no classified frame yet")
        jpeg, wall = found
        headers = {"Cache-Control": "no-store", "X-Frame-Time": f"{wall:.3f}"}
        return Reply(200, jpeg, JPEG, headers)


def read_inside(path: Path) -> bytes:
    """The regular file at `path` (a checked name in the snapshot folder), never through a
    symlink."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # missing, a symlink (ELOOP), unreadable: all the same to the client
        raise Refused(404, f"no such snapshot: {path.name}") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # a folder, a device, a pipe
            raise Refused(404, f"no such snapshot: {path.name}")
        chunks = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _segments(path: str) -> list[str]:
    """The path's segments, each percent-decoded exactly once."""
    if not path.startswith("/"):
        raise Refused(400, "bad path")
    try:
        return [unquote(segment, errors="strict") for segment in path[1:].split("/")]
    except UnicodeDecodeError:
        raise Refused(400, "bad path: not UTF-8") from None


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    try:
        parsed = parse_qs(raw_query, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise Refused(400, "bad query: not UTF-8") from None
    pairs = []
    for name, values in parsed.items():
        if name not in PARAMETERS:
            raise Refused(400, f"unknown parameter {name[:40]!r} (valid: {', '.join(PARAMETERS)})")
        if len(values) > 1:
            raise Refused(400, f"parameter {name!r} given {len(values)} times")
        pairs.append((name, values[0]))
    return pairs


def parse_query(raw_query: str) -> Query:
    """The list's filters from a query string; Refused(400) naming a bad one."""
    values = {name: value for name, value in _query_pairs(raw_query) if value != ""}
    stream = values.get("stream")
    if stream is not None:
        try:
            check_name(stream)
        except ValueError as problem:
            raise Refused(400, f"stream: {problem}") from None
    before = values.get("before")
    if before is not None and not is_event_id(before):
        raise Refused(400, f"before: not an event id: {before[:80]!r}")
    limit = DEFAULT_LIMIT
    if "limit" in values:
        try:
            limit = int(values["limit"])
        except ValueError:
            raise Refused(400, f"limit: not a whole number: {values['limit'][:40]!r}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise Refused(400, f"limit: must be 1 to {MAX_LIMIT}")
    return Query(
        stream=stream,
        label=values.get("label"),
        since=_time(values, "since"),
        until=_time(values, "until"),
        before=before,
        limit=limit,
    )


def _time(values: dict[str, str], name: str) -> float | None:
    """Epoch seconds, or an ISO 8601 time (UTC unless it says otherwise)."""
    text = values.get(name)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise Refused(400, f"{name}: not a finite number: {text[:40]!r}")
        return seconds
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(
            400, f"{name}: neither epoch seconds nor an ISO 8601 time: {text[:40]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
