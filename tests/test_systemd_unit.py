"""The units under systemd/: `systemd-analyze verify` and `security`, and the daemon under the
unit's sandbox.

No systemd runs the unit here (tests run in containers and CI without one as PID 1), so the
sandbox is checked in the parts that can break the daemon without a sign until a real box starts
it: the seccomp filters. `visord/testing/unit_sandbox.py` installs the ones systemd derives from the
unit's SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute=, and the daemon has
to read an RTSP camera, classify, serve metrics and talk sd_notify under them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from visord.contract import exitcodes
from visord.testing.daemon_process import DaemonProcess, fetch, tiny_config
from visord.testing.notify_manager import listening_manager
from visord.testing.rtsp_server import SYSTEM_PYTHON, RtspServer, free_port
from visord.testing.systemd_unit import (
    ANALYZE,
    INSTALLED_VENV,
    ROOT,
    SERVICE,
    UNITS,
    exposure,
    sandbox_spec,
    values,
)
from visord.testing.wait import wait_for

MAX_EXPOSURE = 2.0
SANDBOX = ROOT / "visord" / "testing" / "unit_sandbox.py"

pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="needs systemd-analyze (Debian's systemd; `make test` installs it)"
)


def has_seccomp_binding() -> bool:
    return (
        subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True).returncode == 0
    )


needs_seccomp = pytest.mark.skipif(
    not has_seccomp_binding(),
    reason="needs python3-seccomp for /usr/bin/python3 (`make test` installs it)",
)


def verify(unit_text: str, name: str, folder) -> str:
    """What `systemd-analyze verify` says about the unit (a copy running this checkout's venv); ""
    when clean.

    verify checks that ExecStart='s program is executable, so the copy names this venv's `visord`
    instead of /opt/visord/venv's, which exists only once installed."""
    copy = folder / name
    copy.write_text(unit_text.replace(INSTALLED_VENV, sys.prefix))
    result = subprocess.run([ANALYZE, "verify", str(copy)], capture_output=True, text=True)
    return (result.stdout + result.stderr).strip() or (
        "" if result.returncode == 0 else f"exit {result.returncode}"
    )


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_every_unit_passes_systemd_analyze_verify(unit, tmp_path):
    assert os.access(f"{sys.prefix}/bin/visord", os.X_OK), (
        "the venv has no visord script: pip install -e ."
    )
    assert verify(unit.read_text(), unit.name, tmp_path) == ""


def test_verify_reports_a_misspelt_directive(tmp_path):
    """systemd only warns about an unknown key (and exits 0): the test above fails on any output for
    that reason."""
    text = SERVICE.read_text().replace("WorkingDirectory=", "WorkinDirectory=")
    assert "Unknown key 'WorkinDirectory'" in verify(text, SERVICE.name, tmp_path)


def test_the_service_exposure_is_at_most_2():
    level, report = exposure(SERVICE)
    exposed = "\n".join(line for line in report.splitlines() if line.startswith("✗"))
    assert level <= MAX_EXPOSURE, f"exposure {level} > {MAX_EXPOSURE}; what counts:\n{exposed}"


def test_the_unit_restarts_failures_but_not_a_bad_config():
    """The daemon's side of the contract: 78 for config and models (never retried), other failures
    retried."""
    assert values(SERVICE, "Type") == ["notify"]
    assert values(SERVICE, "Restart") == ["on-failure"]
    assert values(SERVICE, "RestartPreventExitStatus") == [str(exitcodes.CONFIG)]
    assert values(SERVICE, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values(SERVICE, "ExecStart") == [
        f"{INSTALLED_VENV}/bin/visord run --config /etc/visord/visord.yaml"
    ]


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(sandbox_spec(SERVICE)))
    return path


PROBE = textwrap.dedent("""\
    import errno, json, mmap, os, socket

    def outcome(call):
        try:
            call()
            return "ok"
        except OSError as error:
            return errno.errorcode[error.errno]

    print(json.dumps({
        "netlink socket": outcome(
            lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()
        ),
        "inet6 socket": outcome(lambda: socket.socket(socket.AF_INET6).close()),
        "writable executable memory": outcome(lambda: mmap.mmap(-1, 4096, prot=7).close()),
        "nice": outcome(
            lambda: os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + 1)
        ),
        "pin own thread": outcome(lambda: os.sched_setaffinity(0, os.sched_getaffinity(0))),
    }))
    """)


@needs_seccomp
def test_the_sandbox_refuses_what_the_unit_refuses(spec_file):
    """The control for the test below: the filters are really on (each refusal is ok outside
    them)."""

    def probe(prefix: list[str]) -> dict[str, str]:
        result = subprocess.run(
            [*prefix, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert set(probe([]).values()) == {"ok"}
    assert probe([SYSTEM_PYTHON, str(SANDBOX), str(spec_file)]) == {
        "netlink socket": "EAFNOSUPPORT",  # RestrictAddressFamilies=
        "inet6 socket": "ok",
        "writable executable memory": "EPERM",  # MemoryDenyWriteExecute=
        "nice": "EPERM",  # ~@resources
        "pin own thread": "ok",  # given back for onnxruntime's thread pool
    }


@needs_seccomp
def test_the_daemon_reads_a_camera_and_talks_to_systemd_under_the_units_filters(
    tmp_path, spec_file
):
    extra = "  - {name: cam, source: 'rtsp://127.0.0.1:%d/stream', fps: 5, model: small}\n"
    with RtspServer(width=160, height=120, fps=10) as camera, listening_manager() as manager:
        port = free_port()
        config = tiny_config(tmp_path, port, extra_streams=extra % camera.port)
        daemon = DaemonProcess(
            config,
            port,
            prefix=[SYSTEM_PYTHON, str(SANDBOX), str(spec_file)],
            env={"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "1000000"},
        )
        with daemon:
            manager.receive(lambda message: "READY" in message, what="READY=1 (AF_UNIX)")
            daemon.wait_classified("cam")  # FFmpeg over TCP, onnxruntime, under the filters
            wait_for(lambda: fetch(port, "/healthz")[0] == 200, what="a healthy daemon")
            manager.receive(lambda message: "WATCHDOG" in message, what="WATCHDOG=1 from the loop")
            assert daemon.stop() == 0
        manager.receive(lambda message: "STOPPING" in message, what="STOPPING=1")
    log = daemon.log.read_text()
    assert "not permitted" not in log.lower(), log  # nothing the daemon tried was refused
    assert (tmp_path / "events.jsonl").stat().st_size > 0
