"""The label page's HTTP server: the page, its JSON API, the crops, and who may use them.

Standard library only (`ThreadingHTTPServer`), one thread per request. Routes:

```
GET  /                         the page (static/index.html; ?token=... sets the cookie)
GET  /static/label.js, .css    its script and style
GET  /api/items?offset=&limit= one page of unlabelled crops, most uncertain first, and the total
GET  /api/stacks?offset=&limit=&threshold=&order=
                               one page of stacks (look-alike crops of a stream: `stacks`), each
                               with its count and its crops, the cover first; threshold 0: none;
                               order: uncertain (first), stream (and time) or change
                               (auto, the default: the one `Labeller.default_order` chose)
GET  /api/classes              the classes (key, name, count) and the number unlabelled
GET  /api/model                the model given with --run/--model: its curve (`review`)
GET  /api/mistakes             the run's validation images the model got wrong, the confusion
GET  /crops/<stream>/<name>.jpg an unlabelled crop's image
GET  /labelled/<class>/<file>  a labelled image (the mistakes view's)
POST /api/label   {name, class}   POST /api/skip {name}   POST /api/delete {name}
POST /api/bulk    {action: label|skip|delete, names: [...], class}   many crops, one action
POST /api/accept  {names: [...], threshold}   each crop labelled with its suggestion, one action
POST /api/relabel {paths: ["<class>/<file>", ...], class}   labelled images to another class
                               (class null: to the trash), one action
POST /api/undo    {}              POST /api/classes {name}
```

Every answer that is not a page, script, style or image is JSON; an error is `{"error": "..."}`
with 400, 401, 403, 404, 409, 411, 413, 415 or 503, never a traceback (a bug answers 500 and
logs it). Paths in requests go through `paths.url_parts` and `paths.resolve`.

Who may call: without a token (the default, bound to loopback) only requests whose `Host` is this
machine's loopback name, which keeps a web site's DNS-rebinding page out. With a token (required
for any other address) every request needs it: `Authorization: Bearer <token>`, or the cookie the
page's first load sets from `?token=<token>`; compared with `hmac.compare_digest`. A POST must be
JSON and, when the browser names an `Origin`, come from the page's own, so another site cannot
post a form at it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import socket
import stat
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from visord.contract.dataset import IMAGE_SUFFIX, UNLABELLED, DatasetError, check_crop_name
from visord.contract.pages import SECURITY_HEADERS, read_static
from visord.label.actions import Labeller
from visord.label.listing import Crop
from visord.label.paths import STREAM, Refused, check_part, resolve, url_parts
from visord.label.review import Review, labelled_parts
from visord.label.stacks import DEFAULT_THRESHOLD, ORDERS, Stack

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 48
MAX_LIMIT = 500
MAX_BODY = 4096
MAX_BULK_BODY = 512 * 1024  # POST /api/bulk: up to MAX_BULK crop names
BULK_ROUTES = {("api", "bulk"), ("api", "accept"), ("api", "relabel")}
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
}
STATIC = {
    (): ("index.html", "text/html; charset=utf-8"),
    ("static", "label.js"): ("label.js", "text/javascript; charset=utf-8"),
    ("static", "label.css"): ("label.css", "text/css; charset=utf-8"),
}


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the page on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class LabelServer(ThreadingHTTPServer):
    """The HTTP server of one `Labeller`; `token` None means loopback only, no token."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        labeller: Labeller,
        token: str | None,
        review: Review | None = None,
    ) -> None:
        self.labeller = labeller
        self.review = review if review is not None else Review()
        self.token = token
        self.static = read_static("visord.label", STATIC, "label page")
        super().__init__(address, Handler)
        self.port = self.server_address[1]
        self.cookie = f"visord_label_{self.port}"  # cookies ignore ports: one name per server
        listen = address[0]
        self.local_hosts = {
            f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]", listen)
        }

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("label page: connection from %s failed", client_address, exc_info=True)


class LabelServer6(LabelServer):
    address_family = socket.AF_INET6


def make_server(
    labeller: Labeller, host: str, port: int, token: str | None, review: Review | None = None
) -> LabelServer:
    """Binds (OSError when it cannot); call `serve_forever` to serve. A token is required unless
    `host` is a loopback address. `review`: the model given with --run/--model, if any."""
    if token is None and not is_loopback(host):
        raise ValueError(f"listening on {host} needs a token")
    kind = LabelServer6 if ":" in host else LabelServer
    return kind((host.strip("[]"), port), labeller, token, review)


def page_url(server: LabelServer, host: str, token: str | None) -> str:
    """The address to open: the bound one, or this machine's name when bound to every address."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host.strip('[]')}]"
    return f"http://{host}:{server.port}/" + (f"?token={token}" if token else "")


class Handler(BaseHTTPRequestHandler):
    server: LabelServer
    server_version = "visord-label"
    sys_version = ""
    timeout = 30  # an idle connection (a browser's preconnect) gives its thread back

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        raw_path, _, query = self.path.partition("?")
        try:
            parts = () if raw_path == "/" else tuple(map(check_part, url_parts(raw_path)))
            params = _query(query)
            set_cookie = self._authorize(parts, params)
            if method == "POST":
                return self._post(parts)
            if parts in self.server.static:
                return self._send_static(parts, set_cookie)
            if parts[:1] == ("crops",):
                return self._send_crop(parts)
            if parts[:1] == ("labelled",):
                return self._send_labelled(parts[1:])
            if parts == ("api", "model"):
                return self._json(200, self.server.review.model_info())
            if parts == ("api", "mistakes"):
                return self._json(200, self.server.review.mistakes_view(self.server.labeller.root))
            if parts == ("api", "items"):
                return self._json(200, self._items(params))
            if parts == ("api", "classes"):
                return self._json(200, self._classes())
            if parts == ("api", "stacks"):
                return self._json(200, self._stacks(params))
            raise Refused(404, "not found")
        except Refused as refused:
            headers = {}
            if refused.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="visord label"'
            self._json(refused.status, {"error": refused.message}, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away (a page change while images load)
        except Exception:
            log.exception("label page: %s %s failed", method, raw_path)
            self._json(500, {"error": "internal error: see the server's log"})

    # Access -----------------------------------------------------------------------------------

    def _authorize(self, parts: tuple[str, ...], params: dict[str, list[str]]) -> str | None:
        """Refused unless this request may proceed; returns a token to set as cookie (the page
        loaded with ?token=)."""
        token = self.server.token
        if token is None:
            host = self.headers.get("Host")
            if host is not None and host.lower() not in self.server.local_hosts:
                raise Refused(403, f"refused: Host {host[:80]!r} is not this machine's loopback")
            return None
        header = self.headers.get("Authorization", "")
        candidates = [header[7:].strip()] if header[:7].lower() == "bearer " else []
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", "")).get(self.server.cookie)
        except CookieError:
            cookie = None
        if cookie is not None:
            candidates.append(cookie.value)
        from_query = params.get("token", [""])[-1] if parts == () else ""
        if from_query:
            candidates.append(from_query)
        expected = token.encode()
        if not any(hmac.compare_digest(given.encode(), expected) for given in candidates):
            raise Refused(401, "unauthorized: open the address visord label printed (?token=...)")
        return token if from_query else None

    # Answers ----------------------------------------------------------------------------------

    def _items(self, params: dict[str, list[str]]) -> dict[str, Any]:
        offset = _integer(params, "offset", 0, 0, 10**9)
        limit = _integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        total, crops = self.server.labeller.page(offset, limit)
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": [_item(crop, skipped) for crop, skipped in crops],
        }

    def _stacks(self, params: dict[str, list[str]]) -> dict[str, Any]:
        offset = _integer(params, "offset", 0, 0, 10**9)
        limit = _integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        threshold = _share(params, "threshold", DEFAULT_THRESHOLD)
        labeller = self.server.labeller
        order = params.get("order", ["auto"])[-1]
        if order == "auto":
            order = labeller.default_order
        if order not in ORDERS:
            raise Refused(400, f"order must be one of auto, {', '.join(ORDERS)}")
        total, crops, stacks, skipped = labeller.stacks(offset, limit, threshold, order)
        return {
            "total": total,
            "crops": crops,
            "threshold": threshold,
            "order": order,
            "offset": offset,
            "limit": limit,
            "stacks": [_stack(stack, skipped) for stack in stacks],
        }

    def _classes(self) -> dict[str, Any]:
        counts, unlabelled = self.server.labeller.counts()
        return {
            "dataset": self.server.labeller.root.name,
            "unlabelled": unlabelled,
            "classes": [
                {"name": name, "count": count, "key": str(index + 1) if index < 9 else None}
                for index, (name, count) in enumerate(counts.items())
            ],
        }

    def _post(self, parts: tuple[str, ...]) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host', '')}":
            raise Refused(403, "refused: a request from another site")
        body = self._body(MAX_BULK_BODY if parts in BULK_ROUTES else MAX_BODY)
        labeller = self.server.labeller
        if parts == ("api", "label"):
            return self._json(200, {"action": labeller.label(body.get("name"), body.get("class"))})
        if parts == ("api", "skip"):
            return self._json(200, {"action": labeller.skip(body.get("name"))})
        if parts == ("api", "delete"):
            return self._json(200, {"action": labeller.delete(body.get("name"))})
        if parts == ("api", "bulk"):
            entry = labeller.bulk(body.get("action"), body.get("names"), body.get("class"))
            return self._json(200, {"action": entry})
        if parts == ("api", "accept"):
            entry = labeller.accept(body.get("names"), body.get("threshold"))
            return self._json(200, {"action": entry})
        if parts == ("api", "relabel"):
            return self._json(
                200, {"action": labeller.relabel(body.get("paths"), body.get("class"))}
            )
        if parts == ("api", "undo"):
            undone, action = labeller.undo()
            return self._json(200, {"undone": undone, "action": action})
        if parts == ("api", "classes"):
            return self._json(201, {"action": labeller.add_class(body.get("name"))})
        raise Refused(404, "not found")

    def _body(self, limit: int) -> dict[str, Any]:
        if self.headers.get_content_type() != "application/json":
            raise Refused(415, "send JSON (Content-Type: application/json)")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise Refused(411, "Content-Length required")
        if int(length) > limit:
            raise Refused(413, f"body over {limit} bytes")
        try:
            body = json.loads(self.rfile.read(int(length)) or b"{}")
        except ValueError:
            raise Refused(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused(400, "body must be a JSON object")
        return body

    def _send_crop(self, parts: tuple[str, ...]) -> None:
        if len(parts) != 3 or not STREAM.fullmatch(parts[1]) or not parts[2].endswith(IMAGE_SUFFIX):
            raise Refused(404, "not found: crops are /crops/<stream>/<name>.jpg")
        try:
            check_crop_name(parts[2][: -len(IMAGE_SUFFIX)])
        except DatasetError as error:
            raise Refused(400, str(error)) from None
        path = resolve(self.server.labeller.root, [UNLABELLED, *parts[1:]], "file")
        data = _read_regular(path)
        self._send(200, data, "image/jpeg", {"Cache-Control": "private, max-age=300"})

    def _send_labelled(self, parts: tuple[str, ...]) -> None:
        """A labelled image, DATASET/<class>/<file>: the mistakes view shows them."""
        path = resolve(self.server.labeller.root, labelled_parts("/".join(parts)), "file")
        kind = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
        self._send(200, _read_regular(path), kind, {"Cache-Control": "private, no-cache"})

    def _send_static(self, parts: tuple[str, ...], set_cookie: str | None) -> None:
        body, kind = self.server.static[parts]
        headers = {}
        if set_cookie is not None:
            headers["Set-Cookie"] = (
                f"{self.server.cookie}={set_cookie}; Path=/; HttpOnly; SameSite=Strict"
            )
        self._send(200, body, kind, headers)

    def _json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = (json.dumps(body) + "\n").encode()
        self._send(status, data, "application/json", headers)

    def _send(
        self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (
            SECURITY_HEADERS | {"Cache-Control": "no-store"} | (headers or {})
        ).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a malformed request line, an unknown method): JSON too.
        self.close_connection = True
        try:
            self._json(code, {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("label page: %s " + format, self.address_string(), *args)


def _read_regular(path: os.PathLike) -> bytes:
    """The bytes of the regular file `path` (which `resolve` checked); Refused 404 otherwise."""
    try:
        # O_NOFOLLOW: a symlink swapped in after resolve() looked is still refused.
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise Refused(404, "not found") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise Refused(404, "not found")
        return handle.read()


def _query(query: str) -> dict[str, list[str]]:
    try:
        return parse_qs(query, max_num_fields=10, errors="strict")
    except ValueError:  # too many fields, or not UTF-8
        raise Refused(400, "bad query string") from None


def _integer(params: dict[str, list[str]], key: str, default: int, low: int, high: int) -> int:
    text = params.get(key, [str(default)])[-1]
    if not text.isdigit() or not low <= int(text) <= high:
        raise Refused(400, f"{key} must be a whole number from {low} to {high}")
    return int(text)


def _share(params: dict[str, list[str]], key: str, default: float) -> float:
    text = params.get(key, [str(default)])[-1]
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:  # also NaN
        raise Refused(400, f"{key} must be a share from 0 to 1")
    return value


def _stack(stack: Stack, skipped: set[str]) -> dict[str, Any]:
    return {
        "id": stack.cover.name,
        "stream": stack.cover.stream,
        "count": len(stack.members),
        "items": [_item(crop, crop.name in skipped) for crop in stack.members],
    }


def _item(crop: Crop, skipped: bool) -> dict[str, Any]:
    record = crop.record
    return {
        "name": crop.name,
        "stream": crop.stream,
        "url": f"/crops/{crop.stream}/{crop.name}{IMAGE_SUFFIX}",
        "suggestion": record.suggestion,
        "uncertainty": round(record.uncertainty, 3),
        "reason": record.reason,
        "time": record.time.isoformat(),
        "width": record.width,
        "height": record.height,
        "answers": [answer.model_dump() for answer in record.answers],
        "skipped": skipped,
    }
