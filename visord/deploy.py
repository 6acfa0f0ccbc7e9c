"""Putting a model where a running daemon reads it, and having that daemon reload it.

Owns the steps of `visord deploy`: check the new model before anything is touched (its manifest,
and that a cascade's two models still speak the same labels), keep the file it replaces as
`<file>.previous`, swap the new one in with one rename, then find the daemon that runs the config
(through its own `/healthz`, which names its pid and config file), send it SIGHUP (or `systemctl
reload` when systemd runs it) and wait for its answer. A reload the daemon rejects puts the
previous file back, so the file on disk is always the model that runs. `rollback` swaps the two
files and reloads the same way.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from visord.contract.manifest import ManifestError, load_manifest
from visord.daemon.config import DaemonConfig, load_config
from visord.daemon.config.model_files import pair_problems
from visord.daemon.config.yaml_lines import format_path

PREVIOUS_SUFFIX = ".previous"
SYSTEMD_UNIT = "visord.service"


class DeployError(Exception):
    """A deploy that cannot go on; the message says why and what was left as it was."""


@dataclass(frozen=True)
class Target:
    """The `models:` entry a deploy replaces, and the daemon config that names it."""

    name: str
    path: Path  # absolute: relative paths in the config follow the daemon's working directory
    config_path: Path
    config: DaemonConfig

    @property
    def previous(self) -> Path:
        return self.path.with_name(self.path.name + PREVIOUS_SUFFIX)


@dataclass(frozen=True)
class Reload:
    """What the daemon said to the reload: applied, rejected (with its errors) or no daemon."""

    result: str  # "applied", "rejected" or "no daemon"
    detail: list[str]


def target_of(config_path: Path, name: str, workdir: Path | None = None) -> Target:
    """The model entry `name` of the daemon config at `config_path` (ConfigError when the file is
    bad, DeployError when it has no such model)."""
    config = load_config(config_path)
    if name not in config.models:
        raise DeployError(
            f"{config_path}: no model '{name}' under models: (it has {', '.join(config.models)})"
        )
    path = config.models[name].path
    path = path if path.is_absolute() else (workdir or Path.cwd()) / path
    return Target(name, path, Path(config_path).resolve(), config)


def check_candidate(staged: Path, target: Target) -> str:
    """The staged model's summary line; DeployError when the daemon would refuse it."""
    try:
        manifest = load_manifest(staged)
    except ManifestError as error:
        raise DeployError(f"the new model is refused: {error}") from None
    manifests = {
        name: load_manifest(model.path)
        for name, model in target.config.models.items()
        if name != target.name and model.path.is_file()
    }
    problems = pair_problems(
        target.config, manifests | {target.name: manifest}, {target.name: staged}
    )
    if problems:
        key, message = problems[0]
        raise DeployError(f"the new model does not fit the config: {format_path(key)}: {message}")
    accuracy = manifest.training.validation_accuracy
    return f"{manifest.name} {manifest.version}, labels {', '.join(manifest.labels)}, " + (
        f"validation accuracy {accuracy:.3f}"
    )


def staging_path(target: Target) -> Path:
    """Where a new model is written before the swap: beside the target, so the rename is atomic."""
    return target.path.with_name(f".{target.path.name}.deploy")


def copy_model(source: Path, staged: Path) -> None:
    staged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, staged)


def swap_in(staged: Path, target: Target) -> None:
    """The staged file becomes the model; the file it replaces becomes `.previous`."""
    if target.path.exists():
        keep = target.previous.with_name(target.previous.name + ".tmp")
        shutil.copy2(target.path, keep)
        os.replace(keep, target.previous)
    os.replace(staged, target.path)


def swap_back(target: Target) -> None:
    """The model and its `.previous` trade places (a rollback, or undoing a rejected deploy)."""
    if not target.previous.exists():
        raise DeployError(f"no previous model to go back to: {target.previous} does not exist")
    hold = target.path.with_name(f".{target.path.name}.swap")
    os.replace(target.path, hold)
    os.replace(target.previous, target.path)
    os.replace(hold, target.previous)


# -- talking to the daemon


def health_url(config: DaemonConfig) -> str:
    metrics = config.metrics
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(metrics.listen, metrics.listen)
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if metrics.tls else 'http'}://{host}:{metrics.port}/healthz"


def read_health(config: DaemonConfig, timeout: float = 5.0) -> dict | None:
    """The daemon's /healthz answer (whatever its status), or None when nothing answers."""
    request = urllib.request.Request(health_url(config))
    auth = config.metrics.basic_auth
    if auth:
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    context = None
    if config.metrics.tls:
        context = ssl.create_default_context(cafile=str(config.metrics.tls.cert_file))
        context.check_hostname = False  # a loopback address, not the certificate's name
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # 503: unhealthy, but it answered
        return json.loads(error.read() or b"{}")
    except (OSError, ValueError):
        return None


def under_systemd(pid: int) -> bool:
    try:
        return SYSTEMD_UNIT in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def signal_reload(pid: int) -> None:
    if under_systemd(pid):
        subprocess.run(["systemctl", "reload", SYSTEMD_UNIT], check=True, timeout=30)
    else:
        os.kill(pid, signal.SIGHUP)


def reload_daemon(
    target: Target,
    timeout: float = 30.0,
    send: Callable[[int], None] = signal_reload,
) -> Reload:
    """SIGHUP (or systemctl reload) to the daemon running `target.config_path`, and its verdict."""
    before = read_health(target.config)
    if before is None:
        return Reload("no daemon", [f"nothing answers at {health_url(target.config)}"])
    process = before.get("process", {})
    if process.get("config") != str(target.config_path):
        raise DeployError(
            f"the daemon at {health_url(target.config)} runs {process.get('config')}, not "
            f"{target.config_path}: not reloading it"
        )
    number = before.get("last_reload", {}).get("number", 0)
    send(int(process["pid"]))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        after = read_health(target.config) or {}
        outcome = after.get("last_reload", {})
        if outcome.get("number", 0) > number:
            return Reload(outcome["result"], outcome.get("errors") or outcome.get("changes", []))
        time.sleep(0.2)
    raise DeployError(f"the daemon did not answer the reload within {timeout:g} s")
