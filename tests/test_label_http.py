"""The label page's HTTP API, with real requests to 127.0.0.1: the answers, the refusals of every
path that tries to leave the data set, the token, and the time one page takes at 10,000 crops."""

from __future__ import annotations

import json
import os
import time

import pytest

from visord.contract.dataset import read_record
from visord.label import listing
from visord.label.actions import Labeller
from visord.label.sample import crop_jpeg, write_sample
from visord.label.server import make_server
from visord.testing.label_server import request, serving

TOKEN = "t0ken-for-the-tests-only_0123456789"


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    records = write_sample(root, 6)
    return root, records


@pytest.fixture
def server(dataset):
    with serving(dataset[0]) as running:
        yield running


def test_the_page_its_script_and_style_are_served_with_a_strict_policy(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="/static/label.js"' in body and b"http" not in body.replace(b"http-equiv", b"")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path, kind in (("/static/label.js", "text/javascript"), ("/static/label.css", "text/css")):
        status, headers, body = request(server, "GET", path)
        assert (status, headers["Content-Type"].split(";")[0]) == (200, kind)
        assert b"://" not in body  # nothing fetched from anywhere else


def test_items_come_one_page_at_a_time_most_uncertain_first(server, dataset):
    root, records = dataset
    status, _, first = request(server, "GET", "/api/items?offset=0&limit=4")
    assert status == 200 and (first["total"], len(first["items"])) == (6, 4)
    _, _, rest = request(server, "GET", "/api/items?offset=4&limit=4")
    items = first["items"] + rest["items"]
    uncertainty = [item["uncertainty"] for item in items]
    assert uncertainty == sorted(uncertainty, reverse=True)
    by_name = {record.name: record for record in records}
    assert {item["name"] for item in items} == set(by_name)
    item = items[0]
    assert item["suggestion"] == by_name[item["name"]].suggestion
    assert item["url"] == f"/crops/{item['stream']}/{item['name']}.jpg"
    status, headers, image = request(server, "GET", item["url"])
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    assert image == (root / "unlabelled" / item["stream"] / f"{item['name']}.jpg").read_bytes()
    status, _, classes = request(server, "GET", "/api/classes")
    assert classes == {
        "dataset": "data",
        "unlabelled": 6,
        "classes": [
            {"name": "empty", "count": 0, "key": "1"},
            {"name": "people", "count": 0, "key": "2"},
        ],
    }


def test_every_action_over_http_and_undo(server, dataset):
    root, records = dataset
    name = records[0].name
    status, _, answer = request(server, "POST", "/api/label", {"name": name, "class": "people"})
    assert status == 200 and answer["action"]["to_path"] == f"people/{name}.jpg"
    assert (root / "people" / f"{name}.jpg").read_bytes() == crop_jpeg(0)
    status, _, answer = request(server, "POST", "/api/classes", {"name": "bicycle"})
    assert status == 201 and (root / "bicycle").is_dir()
    assert request(server, "POST", "/api/skip", {"name": records[1].name})[0] == 200
    assert request(server, "POST", "/api/delete", {"name": records[2].name})[0] == 200
    assert (root / ".visord/trash" / f"{records[2].name}.jpg").exists()
    undone = [request(server, "POST", "/api/undo", {})[2]["undone"]["action"] for _ in range(4)]
    assert undone == ["delete", "skip", "add-class", "label"]
    status, _, answer = request(server, "POST", "/api/undo", {})
    assert (status, answer) == (409, {"error": "nothing to undo"})
    for record in records:
        assert read_record(root / "unlabelled" / record.stream / f"{record.name}.json") == record


# Paths that try to leave the data set: each must be refused with a short JSON error -------------

ESCAPES = [
    "/crops/../../etc/passwd",
    "/crops/hall/../../../etc/passwd",
    "/../../../../etc/passwd",
    "/crops/%2e%2e/%2e%2e/secret.jpg",
    "/crops/hall/%2e%2e%2f%2e%2e%2fsecret.jpg",
    "/crops/%2E%2E/%2E%2E/%2E%2E/secret.jpg",
    "/crops/%252e%252e/%252e%252e/secret.jpg",
    "/crops/hall/%252e%252e%252fsecret.jpg",
    "/crops/hall/..%5c..%5csecret.jpg",
    "/crops/hall\\..\\..\\secret.jpg",
    "/crops/hall/x.jpg%00.png",
    "/crops/hall/%00",
    "//etc/passwd",
    "/crops//etc/passwd",
    "/crops/%2fetc%2fpasswd/x.jpg",
    "/crops/hall/%2Fetc%2Fpasswd",
    "/static/../label/server.py",
    "/static/%2e%2e/server.py",
    "/crops/hall/%ff%fe.jpg",
    "/crops/.visord/records/x.json",
    "/crops/hall/hall-20260301T080000-000-000000.json",
    "/crops/hall/hall-20260301T080000-000-000000.jpg/..",
    "http://127.0.0.1/etc/passwd",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_paths_that_leave_the_data_set_are_refused_without_a_traceback(server, dataset, path):
    status, headers, body = request(server, "GET", path)
    assert status in (400, 403, 404), (status, body)
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {"error"} and len(body["error"]) < 200
    assert "Traceback" not in body["error"] and "root:" not in body["error"]


def test_a_planted_symlink_is_neither_served_nor_listed_nor_moved(server, dataset, tmp_path):
    root, records = dataset
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"the secret")
    victim = records[0]
    image = root / "unlabelled" / victim.stream / f"{victim.name}.jpg"
    image.unlink()
    image.symlink_to(secret)
    outside = tmp_path / "outside-stream"
    outside.mkdir()
    (outside / f"{victim.name}.jpg").symlink_to(secret)
    (root / "unlabelled" / "evil").symlink_to(outside)
    for path in (f"/crops/{victim.stream}/{victim.name}.jpg", f"/crops/evil/{victim.name}.jpg"):
        status, _, body = request(server, "GET", path)
        assert status == 403 and "symlink" in body["error"]
    _, _, page = request(server, "GET", "/api/items?limit=100")
    assert victim.name not in {item["name"] for item in page["items"]} and page["total"] == 5
    for action in ("label", "delete", "skip"):
        status, _, body = request(
            server, "POST", f"/api/{action}", {"name": victim.name, "class": "people"}
        )
        assert status == 404, body
    assert image.is_symlink() and secret.read_bytes() == b"the secret"
    assert list((root / "people").iterdir()) == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "../../etc/passwd", "class": "people"},
        {"name": "/etc/passwd", "class": "people"},
        {"name": "hall-20260301T080000-000-000000", "class": "../../tmp"},
        {"name": "hall-20260301T080000-000-000000", "class": ".visord"},
        {"name": "hall-20260301T080000-000-000000", "class": "unlabelled"},
        {"name": "hall-20260301T080000-000-000000", "class": "people\u0000"},
        {"name": ["hall"], "class": "people"},
    ],
)
def test_names_in_actions_are_checked(server, body):
    status, _, answer = request(server, "POST", "/api/label", body)
    assert status == 400 and set(answer) == {"error"}


def test_malformed_requests_get_a_json_error(server):
    label = "/api/label"
    cases = [
        (("POST", label, None, {"Content-Type": "application/json"}, b"{not json"), 400),
        (("POST", label, None, {"Content-Type": "application/json"}, b"[1, 2]"), 400),
        (("POST", label, None, {"Content-Type": "text/plain"}, b"{}"), 415),
        (("POST", label, None, {"Content-Type": "application/json"}, b"x" * 5000), 413),
        (("POST", "/api/nothing", {}, None, None), 404),
        (("GET", "/api/nothing", None, None, None), 404),
        (("GET", "/api/items?offset=-1", None, None, None), 400),
        (("GET", "/api/items?limit=100000", None, None, None), 400),
        (("GET", "/api/items?limit=%ff", None, None, None), 400),
        (("PUT", "/api/label", {}, None, None), 501),
    ]
    for (method, path, body, headers, raw), expected in cases:
        status, _, answer = request(server, method, path, body, headers, raw)
        assert (status, set(answer)) == (expected, {"error"}), (method, path, answer)


def test_a_garbled_request_line_gets_a_json_error(server):
    import socket

    def send(line: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
            connection.sendall(line + b"\r\n\r\n")
            return connection.makefile("rb").read()

    head, _, body = send(b"GET /a b HTTP/1.1").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400 ") and set(json.loads(body)) == {"error"}
    # No HTTP version given: an HTTP/0.9 answer, which has no status line, only the body.
    assert set(json.loads(send(b"GARBAGE"))) == {"error"}


def test_without_a_token_only_this_machines_pages_may_call(server, dataset):
    name = dataset[1][0].name
    status, _, answer = request(server, "GET", "/api/items", headers={"Host": "evil.example"})
    assert status == 403 and "Host" in answer["error"]  # a DNS-rebinding page
    status, _, answer = request(
        server,
        "POST",
        "/api/label",
        {"name": name, "class": "people"},
        headers={"Origin": "http://evil.example"},
    )
    assert status == 403 and "another site" in answer["error"]
    same = {"Origin": f"http://127.0.0.1:{server.port}"}
    status, _, _ = request(server, "POST", "/api/label", {"name": name, "class": "people"}, same)
    assert status == 200


# The token: bound to every address, contacted on 127.0.0.1 only ---------------------------------


def test_bound_to_every_address_every_request_needs_the_token(dataset):
    root, records = dataset
    with pytest.raises(ValueError, match="needs a token"):
        make_server(Labeller(root), "0.0.0.0", 0, None)
    with serving(root, host="0.0.0.0", token=TOKEN) as server:
        item = f"/crops/{records[0].stream}/{records[0].name}.jpg"
        for method, path, body in [
            ("GET", "/", None),
            ("GET", "/api/items", None),
            ("GET", "/api/classes", None),
            ("GET", item, None),
            ("POST", "/api/undo", {}),
        ]:
            status, headers, answer = request(server, method, path, body)
            assert status == 401 and "token" in answer["error"], path
            assert headers["WWW-Authenticate"].startswith("Bearer")
            wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "x"}
            assert request(server, method, path, body, wrong)[0] == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert request(server, "GET", "/api/items", headers=bearer)[0] == 200
        assert request(server, "GET", item, headers=bearer)[0] == 200
        assert request(server, "GET", "/api/items?token=" + TOKEN)[0] == 401  # the page only
        # The page's address carries the token; the page's answer turns it into a cookie.
        status, headers, _ = request(server, "GET", f"/?token={TOKEN}")
        cookie = headers["Set-Cookie"]
        assert status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        assert request(server, "GET", "/api/classes", headers=jar)[0] == 200
        assert request(server, "GET", item, headers=jar)[0] == 200
        status, _, _ = request(
            server, "POST", "/api/label", {"name": records[0].name, "class": "people"}, jar
        )
        assert status == 200 and (root / "people" / f"{records[0].name}.jpg").exists()


# Time -------------------------------------------------------------------------------------------


def test_a_page_of_10000_crops_is_quick(tmp_path, monkeypatch, capsys):
    """Quick by the work done, not by the clock: a page when nothing changed lists no folder and
    reads no record; after a label only the changed folder is listed again. Times are printed."""
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda descriptor: None)  # writing the sample, not the test
        records = write_sample(tmp_path / "big", 10_000, one_jpeg=True)
    # Folders last changed a minute ago: past the window in which a folder's mtime cannot be
    # trusted, without waiting it out.
    minute_ago = time.time_ns() - 60_000_000_000
    for folder in [
        tmp_path / "big",
        *(path for path in (tmp_path / "big").rglob("*") if path.is_dir()),
    ]:
        os.utime(folder, ns=(minute_ago, minute_ago))
    work = {"listed": [], "read": 0}
    crop_names, read = listing._crop_names, listing.read_record

    def counted_names(folder):
        work["listed"].append(folder.name)
        return crop_names(folder)

    def counted_read(path):
        work["read"] += 1
        return read(path)

    monkeypatch.setattr(listing, "_crop_names", counted_names)
    monkeypatch.setattr(listing, "read_record", counted_read)
    started = time.perf_counter()
    labeller = Labeller(tmp_path / "big")
    cold = time.perf_counter() - started
    assert work["read"] == 10_000 and sorted(work["listed"]) == ["gate", "hall"]
    with serving(labeller) as server:

        def timed(path: str, body=None) -> float:
            started = time.perf_counter()
            status, _, answer = request(server, "POST" if body else "GET", path, body)
            assert status == 200, answer
            return time.perf_counter() - started

        work.update(listed=[], read=0)
        quiet = min(timed("/api/items?offset=5000&limit=48") for _ in range(5))
        assert work == {"listed": [], "read": 0}  # nothing changed: nothing listed nor read
        label = timed("/api/label", {"name": records[0].name, "class": "people"})
        changed = timed("/api/items?offset=0&limit=48")  # the stream folder is listed again
        assert work["listed"] == [records[0].stream] and work["read"] == 0
        classes = timed("/api/classes")
    with capsys.disabled():
        print(
            f"\n10,000 crops: index built in {cold:.2f} s; one page {quiet * 1000:.1f} ms, "
            f"{changed * 1000:.1f} ms after a change; label {label * 1000:.1f} ms; "
            f"classes {classes * 1000:.1f} ms"
        )
