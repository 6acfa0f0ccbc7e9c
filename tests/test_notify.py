"""sd_notify against a real datagram socket: the protocol, `visord run` under a fake service
manager, the watchdog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from visord.contract import exitcodes
from visord.daemon.config import load_config
from visord.daemon.service.daemon import Daemon
from visord.daemon.service.notify import Notifier, socket_address, watchdog_period
from visord.testing.notify_manager import Manager, listening_manager
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port


@pytest.fixture
def manager():
    with listening_manager() as listener:
        yield listener


@pytest.fixture
def config_file(tmp_path) -> Path:
    tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"))
    path = tmp_path / "visord.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        models:
          small: {{path: {tmp_path / "small.onnx"}, role: small}}
        streams:
          - {{name: demo, source: "demo://scenes?fps=10&size=64x48", fps: 5, model: small}}
        events:
          sinks: [{{type: jsonl, path: {tmp_path / "events.jsonl"}}}]
        metrics: {{port: {free_port()}}}
        """)
    )
    return path


def kinds(messages: list[dict[str, str]]) -> list[str]:
    """Each message named by its first assignment, repeats collapsed, STATUS updates left out:
    READY, WATCHDOG, ..."""
    names = [next(iter(message)) for message in messages if next(iter(message)) != "STATUS"]
    return [name for index, name in enumerate(names) if index == 0 or names[index - 1] != name]


# -- the protocol


def test_messages_arrive_on_a_path_socket(manager):
    notifier = Notifier(manager.name)
    assert notifier.enabled
    assert notifier.ready("streams 1/1 up\n| cam: 2.0/s")
    assert notifier.reloading() and notifier.stopping()
    manager.receive(lambda message: "STOPPING" in message, timeout=5)
    ready, reloading, stopping = manager.messages
    # one line, whatever it was given
    assert ready == {"READY": "1", "STATUS": "streams 1/1 up | cam: 2.0/s"}
    assert reloading["RELOADING"] == "1"
    assert (
        0 < int(reloading["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    )
    assert stopping == {"STOPPING": "1"}


def test_an_abstract_socket_name_starts_with_an_at_sign():
    listener = Manager(f"@visord-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        assert socket_address(listener.name).startswith(b"\0")
        assert Notifier(listener.name).status("hello")
        assert listener.receive(lambda message: True, timeout=5) == [{"STATUS": "hello"}]
    finally:
        listener.close()


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.stopping() and not notifier.watchdog(lambda: True)


def test_a_vanished_manager_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "gone.sock"))
    assert not notifier.ready() and not notifier.status("x")
    # logged once, not every time
    assert len([r for r in caplog.records if "notify" in r.getMessage()]) == 1


def test_watchdog_period_is_half_the_timeout_for_this_process():
    assert watchdog_period({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    # meant for another process
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_period({}) is None and watchdog_period({"WATCHDOG_USEC": "0"}) is None


def test_watchdog_pings_at_its_period_and_never_while_unhealthy(manager):
    now = [100.0]
    notifier = Notifier(manager.name, watchdog_every=5.0, clock=lambda: now[0])
    healthy = [True]
    sent = []
    for _ in range(40):  # 20 s in steps of 0.5 s; unhealthy from 8 s to 16 s
        healthy[0] = not 8.0 <= now[0] - 100.0 < 16.0
        sent.append((now[0] - 100.0, notifier.watchdog(lambda: healthy[0])))
        now[0] += 0.5
    assert [at for at, ping in sent if ping] == [0.0, 5.0, 16.0]
    assert [message for message in manager.drain()] == [{"WATCHDOG": "1"}] * 3


def test_no_watchdog_without_watchdog_usec(manager):
    assert not Notifier(manager.name).watchdog(lambda: True)


# -- the daemon's loop


def test_the_loop_pings_only_while_the_engine_steps(manager, config_file):
    """A stale `last_step` stops the pings; so does a step that hangs (the loop itself never comes
    back)."""
    daemon = Daemon(
        config_file, load_config(config_file), notifier=Notifier(manager.name, watchdog_every=0.05)
    )
    assert daemon.engine_alive()
    daemon.runtime.last_step -= 3600  # as if the engine had not stepped for an hour
    assert not daemon.engine_alive()
    assert not daemon.notifier.watchdog(daemon.engine_alive)

    hang, hung, release = threading.Event(), threading.Event(), threading.Event()
    step = daemon.runtime.step

    # an inference call that never returns, until the test releases it
    def stepping(*args, **kwargs):
        if hang.is_set():
            hung.set()
            release.wait()
        return step(*args, **kwargs)

    # Every ping sent, with the thread that sent it and whether a step was hanging then: a hung
    # step keeps the loop from pinging because only the loop pings (no timer to wait out).
    pings: list[tuple[threading.Thread, bool]] = []
    watchdog = daemon.notifier.watchdog

    def watched(healthy) -> bool:
        sent = watchdog(healthy)
        if sent:
            pings.append((threading.current_thread(), hung.is_set() and not release.is_set()))
        return sent

    daemon.runtime.step = stepping
    daemon.notifier.watchdog = watched
    daemon.start()
    loop = threading.Thread(target=daemon.serve)
    loop.start()
    try:
        manager.receive(
            lambda message: "WATCHDOG" in message, timeout=10, what="pings from the loop"
        )
        hang.set()
        assert hung.wait(10)
        hang.clear()
        release.set()
        manager.receive(
            lambda message: "WATCHDOG" in message,
            timeout=10,
            what="pings after the engine recovered",
        )
    finally:
        release.set()
        daemon.running = False
        loop.join(10)
    assert pings and {thread for thread, _ in pings} == {loop}
    assert not any(while_hung for _, while_hung in pings)
    assert manager.drain()[-1] == {"STOPPING": "1"}


def test_status_follows_the_status_line(manager, config_file):
    daemon = Daemon(config_file, load_config(config_file), notifier=Notifier(manager.name))
    daemon.systemd_status.interval = 0.05
    daemon.start()
    deadline = time.monotonic() + 10
    daemon.serve(
        until=lambda: (
            time.monotonic() > deadline
            or any("STATUS" in m and "1/1 up" in m["STATUS"] for m in manager.drain())
        )
    )
    statuses = [m["STATUS"] for m in manager.messages if "STATUS" in m]
    assert statuses[0].startswith("streams 0/1 up") or statuses[0].startswith("streams 1/1 up")
    assert any(s.startswith("streams 1/1 up | demo: ") and "/s" in s for s in statuses)


# -- `visord run` as systemd starts it


MAIN = "import sys\nfrom visord.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run_daemon(config: Path, manager: Manager, patch: str = "", watchdog_usec: int = 200_000):
    """`visord run` with systemd's variables set; `patch` is Python run in the child before the
    CLI."""
    env = dict(os.environ, NOTIFY_SOCKET=manager.name, WATCHDOG_USEC=str(watchdog_usec))
    command = [sys.executable, "-c", patch + MAIN, "run", "--config", str(config)]
    with open(config.parent / "visord.log", "w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_visord_run_tells_systemd_ready_watchdog_reloading_stopping(manager, config_file):
    daemon = run_daemon(config_file, manager)
    try:
        manager.receive(lambda message: "READY" in message, what="READY=1")
        assert manager.messages[-1]["STATUS"].startswith("streams ")
        manager.receive(
            lambda message: sum("WATCHDOG" in m for m in manager.messages) >= 5, what="5 pings"
        )

        daemon.send_signal(signal.SIGHUP)
        manager.receive(
            lambda message: "READY" in message and message.get("STATUS") == "config reloaded",
            what="READY=1 after the reload",
        )
        manager.receive(lambda message: "WATCHDOG" in message, what="pings again after the reload")

        daemon.send_signal(signal.SIGTERM)
        manager.receive(lambda message: "STOPPING" in message, what="STOPPING=1")
        assert daemon.wait(timeout=15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert kinds(manager.drain()) == [
        "READY",
        "WATCHDOG",
        "RELOADING",
        "READY",
        "WATCHDOG",
        "STOPPING",
    ]
    reloading = next(m for m in manager.messages if "RELOADING" in m)
    assert int(reloading["MONOTONIC_USEC"]) > 0


def test_a_rejected_reload_is_still_followed_by_ready(manager, config_file):
    daemon = run_daemon(config_file, manager, watchdog_usec=0)
    try:
        manager.receive(lambda message: "READY" in message, what="READY=1")
        config_file.write_text(config_file.read_text().replace("fps: 5", "fps: -1"))
        daemon.send_signal(signal.SIGHUP)
        manager.receive(
            lambda message: "READY" in message, what="READY=1 after the rejected reload"
        )
        assert "rejected" in manager.messages[-1]["STATUS"]
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert kinds(manager.drain()) == ["READY", "RELOADING", "READY", "STOPPING"]


def test_a_fatal_runtime_error_says_stopping_and_exits_non_zero(manager, config_file):
    """systemd's Restart=on-failure needs a failing status (not 0, not 78) to restart the daemon."""
    boom = textwrap.dedent("""\
        from visord.daemon.runtime import Runtime
        step, calls = Runtime.step, [0]
        def failing(self, *args, **kwargs):
            calls[0] += 1
            if calls[0] > 20:
                raise RuntimeError("engine exploded")
            return step(self, *args, **kwargs)
        Runtime.step = failing
        """)
    daemon = run_daemon(config_file, manager, patch=boom)
    try:
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == exitcodes.SOFTWARE
    assert (
        "fatal: RuntimeError: engine exploded; stopped"
        in (config_file.parent / "visord.log").read_text()
    )
    assert kinds(manager.drain())[0] == "READY" and manager.messages[-1] == {"STOPPING": "1"}


def test_a_bad_model_never_says_ready(manager, config_file, tmp_path):
    (tmp_path / "small.onnx").write_bytes(b"corrupt")
    daemon = run_daemon(config_file, manager)
    assert daemon.wait(timeout=60) == 78
    assert "READY" not in {key for message in manager.drain() for key in message}


@pytest.fixture(autouse=True)
def _no_inherited_notify_socket(monkeypatch):
    """Tests run under a real systemd (CI runners) must not talk to it."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
