"""The daemon's HTTP endpoint: `/metrics` for Prometheus, `/healthz` for probes, `/api/` and the
live page (`/`) for people.

Owns serving a `CollectorRegistry` in the text exposition format, the health
answer (200 or 503 with a JSON body naming what is unhealthy), handing `/api/...`
to the events API (`visord.daemon.service.api`) and `/` and `/live` to the live page
(`visord.daemon.service.live`) when they are given, optional TLS,
and optional HTTP basic auth (compared in constant time), the same for every path. A thread per
request, so a slow scraper or viewer never holds up a probe or the frame loop; and nothing a client
does (or fails to do) holds up the server: the TLS handshake happens in the request's thread, not in
the one that accepts connections (a client that connects and says nothing would otherwise stop
every other one), and a connection that sends or reads nothing for `CLIENT_TIMEOUT` seconds is
closed, so such clients do not pile up threads for ever.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from visord.daemon.service.api import EventsApi
    from visord.daemon.service.live import LivePage

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, dict]]
CLIENT_TIMEOUT = 30.0  # seconds a connection may sit without sending a request or reading a reply


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 9108
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None


def _handler(
    registry: CollectorRegistry,
    health: Health,
    options: ServerOptions,
    api: EventsApi | None,
    page: LivePage | None = None,
) -> type[BaseHTTPRequestHandler]:
    expected = None
    if options.username is not None:
        token = base64.b64encode(f"{options.username}:{options.password or ''}".encode()).decode()
        expected = f"Basic {token}"

    class Handler(BaseHTTPRequestHandler):
        server_version = "visord"
        timeout = CLIENT_TIMEOUT

        def handle(self) -> None:
            if isinstance(self.connection, ssl.SSLSocket):
                try:  # here, in this connection's thread, under its timeout
                    self.connection.do_handshake()
                except (OSError, ValueError) as error:
                    log.debug("http TLS handshake failed client=%s: %s", self.client_address, error)
                    self.close_connection = True
                    return
            super().handle()

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if expected is not None and not hmac.compare_digest(
                self.headers.get("Authorization", ""), expected
            ):
                return self._send(
                    401,
                    b"unauthorized\n",
                    "text/plain",
                    {"WWW-Authenticate": 'Basic realm="visord"'},
                )
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                return self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            if path == "/healthz":
                healthy, detail = health()
                return self._send(
                    200 if healthy else 503, json.dumps(detail).encode(), "application/json"
                )
            if api is not None and (path == "/api" or path.startswith("/api/")):
                return self._api(api)
            if page is not None and (reply := page.handle(path)) is not None:
                return self._send(reply.status, reply.body, reply.content_type, reply.headers)
            hint = (
                "/metrics, /healthz or /api/events" if api is not None else "/metrics or /healthz"
            )
            if page is not None:
                hint = "/ (the live page), " + hint
            return self._send(404, f"not found: try {hint}\n".encode(), "text/plain")

        def _api(self, api: EventsApi) -> None:
            try:
                reply = api.handle(self.path)
            except Exception:  # a bug in one answer is logged; the server and the loop go on
                log.exception("api request failed path=%s", self.path[:200])
                return self._send(500, b'{"error": "internal error"}', "application/json")
            return self._send(reply.status, reply.body, reply.content_type, reply.headers)

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - no access log at info level
            log.debug("http " + format, *args)

    return Handler


def _host(host: str) -> str:
    """`host` as a browser's address bar takes it: a wildcard address as this machine's loopback,
    an IPv6 address in brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # the listen backlog: socketserver's 5 makes a burst of connections (a page's images, a few
    # viewers at once) wait for the kernel's SYN retries, a second each
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away or timed out mid-reply: a debug line, not a traceback on
        stderr."""
        log.debug("http connection from %s ended with an error", client_address, exc_info=True)


class MetricsServer:
    """Serves until `close()`; `port` is the bound port (useful with port 0 in tests)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        health: Health,
        options: ServerOptions,
        api: EventsApi | None = None,
        page: LivePage | None = None,
    ):
        self._server = _Server(
            (options.host, options.port), _handler(registry, health, options, api, page)
        )
        if options.cert_file:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(options.cert_file, options.key_file)
            # the handshake in each request's thread (Handler.handle), never in accept()
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()
        scheme = "https" if options.cert_file else "http"
        log.info(
            "metrics listening url=%s://%s:%d/metrics auth=%s",
            scheme,
            options.host,
            self.port,
            "basic" if options.username is not None else "none",
        )
        if api is not None:
            log.info("events api url=%s://%s:%d/api/events", scheme, options.host, self.port)
        if page is not None:
            log.info("live page url=%s://%s:%d/", scheme, _host(options.host), self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
