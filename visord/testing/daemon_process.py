"""`visord run` as a real process for tests: a tiny model and config, the process, its HTTP answers.

Tests that need a running daemon (the service, the unit's sandbox, the Prometheus scrape, the
dashboard's metric names) start it here, each with its own free metrics port and a log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import yaml
from prometheus_client.parser import text_string_to_metric_families

from visord.testing.daemon_config import daemon_yaml
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for


def fetch(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:PORT/PATH; (0, "") while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def sample(metrics: str, name: str) -> float | None:
    """The value of the series `name` (with its labels, as exposed) in a /metrics page."""
    for line in metrics.splitlines():
        if (
            line.startswith(name + " ")
            or line.startswith(name + "{")
            and line.split(" ")[0] == name
        ):
            return float(line.rsplit(" ", 1)[1])
    return None


def series(metrics: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Every sample of a /metrics page as (name, labels, value), read by the Prometheus client's
    own parser."""
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            yield found.name, found.labels, found.value


def samples(metrics: str, name: str) -> dict[tuple, float]:
    """Every sample of the series `name`, by its label values (sorted by label name)."""
    return {
        tuple(label for _, label in sorted(labels.items())): value
        for found, labels, value in series(metrics)
        if found == name
    }


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as {field: value} (e.g. VmRSS: '123456 kB', Threads: '12')."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def megabytes(size: str) -> float:
    """A size as /proc/PID/status writes it ('123456 kB') in MB."""
    return int(size.split()[0]) / 1024


def rss_mb(pid: int) -> float:
    """Process `pid`'s resident memory in MB."""
    return megabytes(proc_status(pid)["VmRSS"])


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tiny_config(folder: Path, metrics_port: int, extra_streams: str = "") -> Path:
    """visord.yaml in `folder`: the tiny colour model, one demo stream (plus `extra_streams`, YAML
    list items),
    events to events.jsonl."""
    tiny_classifier(folder / "small.onnx", manifest_dict(name="small"), weights=np.eye(3) * 0.2)
    config = folder / "visord.yaml"
    demo = {"name": "demo", "source": "demo://scenes?fps=10&size=64x48", "fps": 5, "model": "small"}
    config.write_text(
        daemon_yaml(
            {"small": folder / "small.onnx"},
            [demo, *(yaml.safe_load(extra_streams) or [])],
            events={
                "debounce": {"hold_frames": 2, "min_score": 0.3},
                "sinks": [{"type": "jsonl", "path": str(folder / "events.jsonl")}],
            },
            metrics={"port": metrics_port},
        )
    )
    return config


class DaemonProcess:
    """`visord run --config CONFIG` in a subprocess (behind `prefix`, e.g. a sandbox), logging to
    visord.log."""

    def __init__(
        self, config: Path, metrics_port: int, prefix: Sequence[str] = (), env: dict | None = None
    ):
        self.config = config
        self.port = metrics_port
        self.log = config.parent / "visord.log"
        command = [*prefix, sys.executable, "-m", "visord.cli", "run", "--config", str(config)]
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")
        }
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment | (env or {})
            )

    @classmethod
    def tiny(cls, folder: Path, **kwargs) -> DaemonProcess:
        port = free_port()
        return cls(tiny_config(folder, port), port, **kwargs)

    def metrics(self) -> str:
        return fetch(self.port, "/metrics")[1]

    def wait_classified(self, stream: str = "demo", timeout: float = 30.0) -> None:
        series = f'visord_frames_classified_total{{model="small",stream="{stream}"}}'
        wait_for(
            lambda: (sample(self.metrics(), series) or 0) > 0,
            timeout,
            f"frames classified on {stream}",
        )

    def stop(self) -> int:
        """SIGTERM, then the exit status (killed after 15 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
