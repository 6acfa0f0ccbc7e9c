"""`visord label` as a command: its help, its refusals (one line, an exit status from
`visord.contract.exitcodes`), and a real server started, used and stopped by SIGTERM or Ctrl-C."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from visord.cli import main
from visord.contract import exitcodes
from visord.label.sample import write_sample
from visord.testing.label_server import request

TOKEN = "a-token-from-a-file_0123456789"


def test_help_describes_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["label", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for words in (
        "DATASET the teaching data set",
        "--listen ADDRESS address to listen on (default 127.0.0.1",
        "requires the access token",
        "--port PORT TCP port (default 9109",
        "--token-file FILE read the access token from FILE",
        "CREDENTIALS_DIRECTORY",
        "until Ctrl-C or SIGTERM",
        "labels.jsonl",
    ):
        assert words in text


@pytest.mark.parametrize(
    ("make", "status", "message"),
    [
        (lambda root: None, exitcodes.NOINPUT, "no such folder"),
        (lambda root: root.mkdir(), exitcodes.NOINPUT, "has no unlabelled/ folder"),
        (lambda root: root.write_text("x"), exitcodes.NOINPUT, "not a folder"),
    ],
)
def test_a_folder_that_is_not_a_data_set_gets_one_line(tmp_path, capsys, make, status, message):
    make(tmp_path / "data")
    assert main(["label", str(tmp_path / "data")]) == status
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert captured.err.startswith("visord label: ") and message in captured.err


def test_a_bad_token_file_or_port_gets_one_line(tmp_path, capsys):
    write_sample(tmp_path / "data", 1)
    short = tmp_path / "short"
    short.write_text("abc\n")
    cases = [
        (["--token-file", str(tmp_path / "missing")], exitcodes.NOINPUT, "cannot read"),
        (["--token-file", str(short)], exitcodes.DATAERR, "at least 16 characters"),
    ]
    for options, status, message in cases:
        assert main(["label", str(tmp_path / "data"), *options]) == status
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["label", str(tmp_path / "data"), "--port", port]) == exitcodes.TEMPFAIL
    assert "is taken" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label", str(tmp_path / "data"), "--port", "70000"])


@contextmanager
def label_server(*arguments: str):
    """`visord label ...` in a subprocess: yields it and the two lines it printed at start."""
    process = subprocess.Popen(
        [sys.executable, "-m", "visord", "label", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert lines[1].startswith("open http://"), lines + [process.stderr.read()]
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def get(url: str, headers: dict | None = None) -> int:
    """Status of GET `url` (its path and query), sent to 127.0.0.1 on its port."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return request(url, "GET", path, headers=headers)[0]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_it_prints_the_address_and_counts_serves_and_stops_cleanly(tmp_path, stop):
    write_sample(tmp_path / "data", 5)
    with label_server(str(tmp_path / "data"), "--port", "0") as (process, lines):
        assert re.fullmatch(
            r"visord label: .*/data: 5 unlabelled; classes: empty 0, people 0\n", lines[0]
        )
        url = lines[1].split()[1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        assert get(url) == 200 and get(url + "api/items") == 200
        # A second server on the same data set is refused while this one runs.
        second = subprocess.run(
            [sys.executable, "-m", "visord", "label", str(tmp_path / "data"), "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == exitcodes.TEMPFAIL and "another visord label" in second.stderr
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    assert process.returncode == exitcodes.OK, err
    assert out == "visord label: stopped\n" and "Traceback" not in err


def test_on_every_address_it_prints_a_token_and_requests_need_it(tmp_path):
    write_sample(tmp_path / "data", 2)
    with label_server(str(tmp_path / "data"), "--listen", "0.0.0.0", "--port", "0") as (
        process,
        lines,
    ):
        url = lines[1].split()[1]
        token = re.fullmatch(r"http://[^/]+:\d+/\?token=([\w-]{32})", url).group(1)
        port = urlsplit(url).port
        assert get(f"http://127.0.0.1:{port}/api/items") == 401
        assert get(f"http://127.0.0.1:{port}/api/items", {"Authorization": "Bearer x"}) == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert get(f"http://127.0.0.1:{port}/api/items", bearer) == 200
        assert get(url) == 200
        process.terminate()
        assert process.wait(timeout=30) == exitcodes.OK


def test_a_token_from_a_file_is_required_and_not_printed(tmp_path):
    write_sample(tmp_path / "data", 2)
    credential = tmp_path / "credentials" / "label-token"
    credential.parent.mkdir()
    credential.write_text(TOKEN + "\n")
    arguments = (str(tmp_path / "data"), "--port", "0", "--token-file", str(credential))
    with label_server(*arguments) as (process, lines):
        assert TOKEN not in "".join(lines) and f"<the token in {credential}>" in lines[1]
        port = urlsplit(lines[1].split()[1]).port
        assert get(f"http://127.0.0.1:{port}/api/classes") == 401  # on loopback too
        assert get(f"http://127.0.0.1:{port}/?token={TOKEN}") == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert get(f"http://127.0.0.1:{port}/api/classes", bearer) == 200
        process.terminate()
        assert process.wait(timeout=30) == exitcodes.OK
