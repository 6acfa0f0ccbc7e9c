"""The metrics endpoint: exposition, health codes, basic auth and TLS, on 127.0.0.1 only."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from visord.daemon.service.http import MetricsServer, ServerOptions
from visord.testing.certs import self_signed


@pytest.fixture
def registry():
    registry = CollectorRegistry()
    Counter("visord_test_things", "Things counted by the test.", registry=registry).inc(3)
    return registry


def serve(registry, health=lambda: (True, {"ok": True}), **options):
    return MetricsServer(registry, health, ServerOptions(port=0, **options))


def get(url, headers=None, context=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_and_health(registry):
    state = {"healthy": True}
    server = serve(
        registry,
        lambda: (state["healthy"], {"streams": {"door": "up" if state["healthy"] else "down"}}),
    )
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/metrics")
        assert status == 200 and "visord_test_things_total 3.0" in body
        assert get(f"http://127.0.0.1:{server.port}/healthz") == (
            200,
            json.dumps({"streams": {"door": "up"}}),
        )
        state["healthy"] = False
        status, body = get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 503 and json.loads(body) == {"streams": {"door": "down"}}
        assert get(f"http://127.0.0.1:{server.port}/other")[0] == 404
    finally:
        server.close()


def test_basic_auth(registry):
    server = serve(registry, username="prom", password="s3cret")
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        assert get(url)[0] == 401
        wrong = base64.b64encode(b"prom:nope").decode()
        assert get(url, {"Authorization": f"Basic {wrong}"})[0] == 401
        right = base64.b64encode(b"prom:s3cret").decode()
        assert get(url, {"Authorization": f"Basic {right}"})[0] == 200
    finally:
        server.close()


def test_tls(registry, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    self_signed(cert, key)
    server = serve(registry, cert_file=str(cert), key_file=str(key))
    try:
        context = ssl.create_default_context(cafile=str(cert))
        status, body = get(f"https://127.0.0.1:{server.port}/metrics", context=context)
        assert status == 200 and "visord_test_things_total" in body
        with pytest.raises(urllib.error.URLError):
            get(f"https://127.0.0.1:{server.port}/metrics")  # untrusted certificate
    finally:
        server.close()
