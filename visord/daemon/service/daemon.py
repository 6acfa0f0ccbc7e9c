"""The running daemon, `Daemon`: its wiring and its loop (what `visord run` runs, `run_daemon`).

Owns start-up (config, metrics registry, event pipeline, runtime, HTTP
endpoint, in that order; a bad config or model exits 78 before anything
starts, a metrics port in use 75), the exit status (0 after SIGTERM, 70 after
a fatal error in the loop, logged with its traceback), the loop (a runtime
step, then queued signals, then the status line), and shutdown. Signal
handlers only enqueue (as uvicorn does); the loop dispatches them: SIGHUP
reloads (a bad new config is logged with every error and the running one
stays), SIGTERM and SIGINT stop cleanly with pending events flushed. Under
systemd (`Type=notify`) it tells the manager where it stands through
`visord.daemon.service.notify`: READY=1 once started, STATUS= with the status line,
WATCHDOG=1 while the loop steps, RELOADING=1/READY=1 around SIGHUP and
STOPPING=1 on the way out.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from visord import __version__
from visord.contract import exitcodes
from visord.contract.manifest import ManifestError
from visord.daemon.collect import Collector
from visord.daemon.config import ConfigError, DaemonConfig, MetricsConfig, load_config
from visord.daemon.events import EventPipeline
from visord.daemon.metrics import DaemonMetrics, SnapshotCollector
from visord.daemon.runtime import Runtime
from visord.daemon.service.api import EventsApi
from visord.daemon.service.http import MetricsServer, ServerOptions
from visord.daemon.service.live import LivePage
from visord.daemon.service.notify import Notifier
from visord.daemon.service.status_line import StatusLine

log = logging.getLogger(__name__)
SYSTEMD_STATUS_INTERVAL = 5.0  # seconds between STATUS= updates under systemd


def server_options(config: DaemonConfig) -> ServerOptions:
    metrics = config.metrics
    tls = metrics.tls
    auth = metrics.basic_auth
    return ServerOptions(
        host=metrics.listen,
        port=metrics.port,
        cert_file=str(tls.cert_file) if tls else None,
        key_file=str(tls.key_file) if tls else None,
        username=auth.username if auth else None,
        password=auth.password.get_secret_value() if auth else None,
    )


class Daemon:
    """The running daemon: `start()`, `serve()` until stopped, then everything closed."""

    def __init__(
        self,
        config_path: Path,
        config: DaemonConfig,
        status_interval: float = 0.0,
        notifier: Notifier | None = None,
    ):
        self.config_path = config_path
        self.config = config
        self.registry = CollectorRegistry()
        self.metrics = DaemonMetrics(self.registry, __version__)
        self.events = EventPipeline(config.events, self.registry)
        self.collector = Collector(config.collect)
        self.runtime = Runtime(config, self.metrics, self.events, collector=self.collector)
        self.registry.register(SnapshotCollector(self.runtime.snapshot))
        self.registry.register(SnapshotCollector(self.collector.snapshot))
        # the running config is replaced whole on reload, never changed: safe to read from a request
        self.api = EventsApi(
            self.events,
            lambda: [stream.name for stream in self.config.enabled_streams],
            self.runtime.status,
            lambda: self.config.metrics.label_page,
        )
        self.signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.status = StatusLine(self.runtime, status_interval)
        self.notifier = notifier or Notifier.from_environment()
        self.systemd_status = StatusLine(
            self.runtime,
            SYSTEMD_STATUS_INTERVAL if self.notifier.enabled else 0.0,
            write=self.notifier.status,
        )
        self.server: MetricsServer | None = None
        self.running = False
        # the last SIGHUP's outcome and how many there were, for /healthz (`visord deploy`)
        self.last_reload: dict = {"number": 0}

    def start(self) -> None:
        self.runtime.start()
        page = LivePage()  # PageMissing (an OSError) when the package lacks its files
        options = server_options(self.config)
        try:
            self.server = MetricsServer(self.registry, self.health, options, self.api, page)
        # name the address: "Address already in use" alone does not say which
        except OSError as error:
            raise OSError(
                error.errno, f"metrics endpoint {options.host}:{options.port}: {error.strerror}"
            ) from error
        self.running = True
        log.info(
            "visord started streams=%d models=%s",
            len(self.runtime.streams),
            ",".join(self.runtime.models),
        )
        self.notifier.ready(self.systemd_status.render())

    def serve(self, until: Callable[[], bool] = lambda: False) -> None:
        try:  # a fatal error still stops the readers, flushes events and says STOPPING=1
            while self.running and not until():
                self.runtime.step()
                self._dispatch_signals()
                self.status.maybe_print()
                self.systemd_status.maybe_print()
                self.notifier.watchdog(self.engine_alive)
        finally:
            self.close()

    def health(self) -> tuple[bool, dict]:
        """The runtime's health, and who answers: the process, its config file and the last
        reload's outcome (what `visord deploy` reads to reload this daemon and hear the result)."""
        healthy, detail = self.runtime.health()
        process = {"pid": os.getpid(), "config": str(self.config_path.resolve())}
        return healthy, detail | {"process": process, "last_reload": self.last_reload}

    def engine_alive(self) -> bool:
        """The watchdog's question: is the loop stepping? (A camera that is down is no reason for a
        restart.)"""
        return self.runtime.health()[1]["engine_alive"]

    def _dispatch_signals(self) -> None:
        while not self.signals.empty():
            number = self.signals.get()
            if number == signal.SIGHUP:
                self.notifier.reloading()
                applied = self.reload()
                self.notifier.ready(
                    "config reloaded"
                    if applied
                    else "config reload rejected; the running config stays"
                )
            else:
                log.info("signal=%s stopping", signal.Signals(number).name)
                self.running = False

    def reload(self) -> bool:
        """Applies the config file as it is now, or keeps the running one and says why."""
        try:
            new = load_config(self.config_path)
            if _serving(new.metrics) != _serving(self.config.metrics):
                log.warning("config metrics section changed: takes effect at restart")
            changes = self.runtime.apply(new)
        except (ConfigError, ManifestError) as error:
            lines = getattr(error, "messages", None) or [str(error)]
            for line in lines:
                log.error("config rejected: %s", line)
            log.error("config reload rejected; the running config stays")
            self.metrics.config_reloads.labels("rejected").inc()
            self.last_reload = self._reloaded({"result": "rejected", "errors": lines})
            return False
        self.config = new
        self.events.reconfigure(new.events)
        self.collector.reconfigure(new.collect)
        self.metrics.config_reloads.labels("applied").inc()
        self.last_reload = self._reloaded({"result": "applied", "changes": changes})
        log.info("config reloaded changes=%s", ",".join(changes) or "none")
        return True

    def _reloaded(self, outcome: dict) -> dict:
        return {"number": self.last_reload["number"] + 1} | outcome

    def close(self) -> None:
        self.notifier.stopping()
        self.runtime.stop()
        self.collector.close()
        self.events.close()
        if self.server is not None:
            self.server.close()
        log.info("visord stopped")

    def install_signal_handlers(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, lambda received, _frame: self.signals.put(received))


def run_daemon(config_path: Path, status_interval: float | None = None) -> int:
    """Runs the daemon of CONFIG_PATH until SIGTERM; the process's exit status."""
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print("\n".join(error.messages), file=sys.stderr)
        return exitcodes.CONFIG
    interval = (
        status_interval if status_interval is not None else (10.0 if sys.stdout.isatty() else 0.0)
    )
    daemon = Daemon(config_path, config, interval)
    daemon.install_signal_handlers()
    try:
        daemon.start()
    except (ConfigError, ManifestError, OSError) as error:  # a model refused, the port taken
        log.error("cannot start: %s", error)
        daemon.close()
        port_taken = isinstance(error, OSError) and error.errno == errno.EADDRINUSE
        return exitcodes.TEMPFAIL if port_taken else exitcodes.CONFIG
    try:
        daemon.serve()
    # any error that escapes the loop ends the process, said once
    except Exception as error:  # noqa: BLE001
        log.critical("fatal: %s: %s; stopped", type(error).__name__, error, exc_info=True)
        return exitcodes.SOFTWARE
    return exitcodes.OK


def _serving(metrics: MetricsConfig) -> MetricsConfig:
    """The keys of `metrics:` the endpoint is started with (a reload changes the others at once:
    the label page's link)."""
    return metrics.model_copy(update={"label_page": None})
