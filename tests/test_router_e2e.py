"""The router end to end: the real Daemon (its loop in a thread), demo cameras, tiny ONNX models.

- a budget that fits every stream on large gives every `auto` stream large; SIGHUP with a smaller
  budget moves the lowest-priority stream to small first, then the next (costs from the config's
  table: the plans are known exactly);
- with measured costs, a busy process spinning on every core makes the large model slower, the live
  estimate follows and `auto` degrades, lowest priority first; once it is killed, the streams come
  back.

Assertions are on plans, modes and metric values, never on how long anything took; deadlines are
generous.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from visord.daemon.config import load_config
from visord.daemon.inference.engine import Model
from visord.daemon.router.costs import measure_curve
from visord.daemon.router.usage import available_cores
from visord.daemon.service.daemon import Daemon
from visord.testing.onnx_models import manifest_dict, matmul_chain_classifier, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

STREAMS = ("low", "normal", "high")


def write_config(folder: Path, hardware: str, router: str = "", fps: float = 5) -> Path:
    streams = "".join(
        f'  - {{name: {name}, source: "demo://scenes?fps=10&size=160x120&seed={index}", '
        f"fps: {fps}, model: auto, "
        f"priority: {name}, motion: {{enabled: false}}}}\n"
        for index, name in enumerate(STREAMS)
    )
    path = folder / "visord.yaml"
    path.write_text(f"""\
models:
  small: {{path: {folder / "small.onnx"}, role: small}}
  large: {{path: {folder / "large.onnx"}, role: large}}
streams:
{streams}hardware:
{hardware}
router: {{replan_interval: 0.5, min_dwell: 2, smoothing: 0.5{router}}}
events:
  sinks: [{{type: jsonl, path: {folder / "events.jsonl"}}}]
metrics: {{port: {free_port()}}}
""")
    return path


class DaemonThread:
    """`visord run` in this process: the daemon's loop in a thread, signals put on its queue."""

    def __init__(self, config: Path):
        self.daemon = Daemon(config, load_config(config))
        self._stop = threading.Event()
        self.daemon.start()
        self._thread = threading.Thread(
            target=self.daemon.serve, kwargs={"until": self._stop.is_set}, daemon=True
        )
        self._thread.start()

    def mode(self, stream: str) -> str | None:
        for mode in ("large", "cascade", "small"):
            if (
                self.daemon.registry.get_sample_value(
                    "visord_stream_mode", {"stream": stream, "mode": mode}
                )
                == 1
            ):
                return mode
        return None

    def modes(self) -> dict[str, str | None]:
        return {name: self.mode(name) for name in STREAMS}

    def value(self, name: str, labels: dict | None = None) -> float | None:
        return self.daemon.registry.get_sample_value(name, labels or {})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def folder(tmp_path):
    tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"))
    return tmp_path


TABLE = (
    "  cores: 1\n  threads: 1\n  costs: {{large: {{1: 40}}, small: {{1: 4}}}}\n  cpu_share: {share}"
)


def test_sighup_with_a_smaller_budget_moves_the_lowest_priority_streams_to_small_first(
    folder, caplog
):
    tiny_classifier(folder / "large.onnx", manifest_dict(name="large"))
    # all large: 3 x 5 fps x 40 ms = 0.6 of the core
    config = write_config(folder, TABLE.format(share=1.0))
    caplog.set_level(logging.INFO, logger="visord.daemon.router.router")
    running = DaemonThread(config)
    try:
        wait_for(
            lambda: running.modes() == {"low": "large", "normal": "large", "high": "large"},
            30,
            "all large",
        )

        # low goes to small (0.42 of 0.45); the others stay
        config.write_text(config.read_text().replace("cpu_share: 1.0", "cpu_share: 0.45"))
        running.daemon.signals.put(signal.SIGHUP)
        wait_for(
            lambda: running.value("visord_config_reloads_total", {"result": "applied"}) == 1,
            30,
            "reload",
        )
        assert running.modes() == {"low": "small", "normal": "large", "high": "large"}
        assert running.value("visord_router_degraded", {"stream": "low"}) == 1
        assert running.value("visord_router_degraded", {"stream": "normal"}) == 0

        config.write_text(config.read_text().replace("cpu_share: 0.45", "cpu_share: 0.3"))
        running.daemon.signals.put(signal.SIGHUP)
        wait_for(
            lambda: running.value("visord_config_reloads_total", {"result": "applied"}) == 2,
            30,
            "reload",
        )
        modes = running.modes()
        assert (
            modes["low"] == "small"
            and modes["normal"] in ("cascade", "small")
            and modes["high"] == "large"
        )
        assert (
            running.value(
                "visord_router_changes_total", {"stream": "low", "direction": "downgrade"}
            )
            == 1
        )
        assert (
            running.value(
                "visord_router_changes_total", {"stream": "high", "direction": "downgrade"}
            )
            is None
        )
        wait_for(
            lambda: running.value(
                "visord_frames_classified_total", {"stream": "low", "model": "small"}
            ),
            30,
            "frames of low classified by small",
        )
    finally:
        running.stop()
    downgrades = [
        record.getMessage()
        for record in caplog.records
        if "router downgrade" in record.getMessage()
    ]
    assert downgrades[0].startswith(
        "stream=low router downgrade large@5 -> small@5 reason='over budget"
    )
    assert all("over budget" in line for line in downgrades)


def spinners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


@pytest.mark.slow
@pytest.mark.alone  # it spins every core, and measures the box before and after
def test_a_busy_box_makes_auto_degrade_and_it_recovers_when_the_load_goes(folder, caplog):
    large = matmul_chain_classifier(folder / "large.onnx", manifest_dict(name="large"), depth=200)
    # Size the budget so that all-large uses about a third of it on this box as it is now (the
    # measurement the
    # daemon makes at start-up; independent cameras seldom share a batch): far from both
    # thresholds, so the
    # background noise of a shared box does not decide. No time is asserted on.
    per_frame = measure_curve(Model("large", large, threads=2), sizes=(1,)).at(1)
    share = min(1.0, 3 * 5 * per_frame / 0.35)
    # CPU = engine time
    config = write_config(folder, f"  cpu_share: {share:.6f}\n  cores: 2\n  threads: 2")
    caplog.set_level(logging.INFO, logger="visord.daemon.router.router")
    running, busy = DaemonThread(config), []
    seen_order_violation = []

    def degraded_in_order() -> bool:
        modes = running.modes()
        if modes["high"] != "large" and modes["low"] != "small":
            seen_order_violation.append(modes)
        return modes["low"] == "small"

    try:
        wait_for(
            lambda: running.modes() == {"low": "large", "normal": "large", "high": "large"},
            60,
            "all large",
        )
        busy = spinners(3 * available_cores())  # every core busy three times over
        wait_for(degraded_in_order, 120, "the low-priority stream on small under load")
        assert not seen_order_violation
        for process in busy:
            process.kill()
            process.wait()
        busy = []
        wait_for(
            lambda: running.modes() == {"low": "large", "normal": "large", "high": "large"},
            180,
            "every stream back on large",
        )
        assert (
            running.value("visord_router_changes_total", {"stream": "low", "direction": "upgrade"})
            >= 1
        )
    finally:
        for process in busy:
            process.kill()
            process.wait()
        running.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert any("stream=low router downgrade" in line and "over budget" in line for line in messages)
    assert any("stream=low router upgrade" in line and "load fell" in line for line in messages)
