"""scripts/install.sh (`make install`, `make uninstall`) into a temporary DESTDIR: files only, no
systemctl.

The first test installs for real (a venv, `pip install` of this checkout with its dependencies) and
runs the installed daemon's `visord check` on the installed config and models; the second is about
the config's bookkeeping and installs visord alone (`--no-deps`) to stay within seconds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.systemd_unit import ANALYZE, INSTALLED_VENV, ROOT

SHIPPED_CONFIG = ROOT / "config" / "visord.yaml"


def install(action: str, destdir: Path, models: Path, pip_args: str = "") -> str:
    env = dict(os.environ, DESTDIR=str(destdir), MODELS=str(models), PIP_ARGS=pip_args)
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "install.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir()}


@pytest.fixture
def models(tmp_path) -> Path:
    """What the shipped config names: models/demo-small.onnx and models/demo-large.onnx."""
    folder = tmp_path / "models"
    folder.mkdir()
    for role in ("small", "large"):
        tiny_classifier(folder / f"demo-{role}.onnx", manifest_dict(name=f"demo-{role}"))
    return folder


def test_install_makes_a_runnable_service_tree_and_uninstall_removes_it(tmp_path, models):
    destdir = tmp_path / "root"
    install("install", destdir, models)
    opt, unit = destdir / "opt/visord", destdir / "etc/systemd/system/visord.service"
    venv_python = opt / "venv/bin/python"

    # The venv's scripts name /opt/visord, where the tree will live, not the staging DESTDIR.
    assert (opt / "venv/bin/visord").read_text().splitlines()[0] == f"#!{INSTALLED_VENV}/bin/python"
    assert not [
        path
        for path in (opt / "venv/bin").iterdir()
        if str(destdir) in path.read_text(errors="ignore")
    ]
    assert (destdir / "etc/visord/visord.yaml").read_bytes() == SHIPPED_CONFIG.read_bytes()
    assert (destdir / "etc/visord/credentials").stat().st_mode & 0o777 == 0o700

    # The daemon only: no TensorFlow in its venv.
    probe = "import importlib.util as u, visord.daemon; print(u.find_spec('tensorflow') is None)"
    assert (
        subprocess.run([venv_python, "-c", probe], capture_output=True, text=True).stdout.strip()
        == "True"
    )

    # The installed daemon accepts the installed config with the installed models, from the
    # unit's WorkingDirectory.
    check = subprocess.run(
        [venv_python, "-m", "visord.cli", "check", destdir / "etc/visord/visord.yaml"],
        cwd=opt,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # The unit as installed passes verify, with its ExecStart= pointing at the installed script.
    if ANALYZE:
        staged = tmp_path / "visord.service"
        staged.write_text(unit.read_text().replace("/opt/visord", str(opt)))
        result = subprocess.run([ANALYZE, "verify", str(staged)], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout + result.stderr == "", (
            result.stdout + result.stderr
        )

    install("uninstall", destdir, models)
    assert files(destdir) == set()


def test_a_changed_config_survives_install_and_uninstall(tmp_path, models):
    destdir = tmp_path / "root"
    config = destdir / "etc/visord/visord.yaml"
    install("install", destdir, models, pip_args="--no-deps")
    assert "kept your changed" not in install("install", destdir, models, pip_args="--no-deps")
    assert not (config.parent / "visord.yaml.new").exists()

    changed = config.read_text() + "# the camera on the porch\n"
    config.write_text(changed)
    said = install("install", destdir, models, pip_args="--no-deps")
    assert "kept your changed /etc/visord/visord.yaml" in said
    assert config.read_text() == changed
    assert (config.parent / "visord.yaml.new").read_bytes() == SHIPPED_CONFIG.read_bytes()

    assert "left /etc/visord/visord.yaml in place" in install("uninstall", destdir, models)
    assert files(destdir) == {"etc/visord/visord.yaml"} and config.read_text() == changed
