"""The unit files under systemd/ as tests read them: directives, `systemd-analyze` answers, the
sandbox spec.

`sandbox_spec` turns the unit's seccomp settings into the JSON that `visord/testing/unit_sandbox.py`
loads, with syscall groups expanded by `systemd-analyze syscall-filter` itself, so the test runs the
daemon under the lists this systemd would install, not a copy of them.
"""

from __future__ import annotations

import errno
import re
import shutil
import socket
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: systemd/ and tests/ sit there
UNITS = sorted(
    path
    for path in (ROOT / "systemd").iterdir()
    if path.suffix in {".service", ".socket", ".timer"}
)
SERVICE = ROOT / "systemd" / "visord.service"
# where scripts/install.sh puts the daemon, as ExecStart= names it
INSTALLED_VENV = "/opt/visord/venv"
ANALYZE = shutil.which("systemd-analyze")


def directives(unit: Path, section: str = "Service") -> list[tuple[str, str]]:
    """(key, value) pairs of one section in file order; keys may repeat (SystemCallFilter=)."""
    pairs = []
    current = None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    return pairs


def values(unit: Path, key: str, section: str = "Service") -> list[str]:
    return [value for name, value in directives(unit, section) if name == key]


def exposure(unit: Path) -> tuple[float, str]:
    """The overall exposure `systemd-analyze security --offline=true` gives the unit, and its full
    report."""
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(unit)], capture_output=True, text=True
    )
    report = result.stdout + result.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", report)
    assert found, f"no exposure level in:\n{report}"
    return float(found.group(1)), report


@cache
def syscall_group(name: str) -> frozenset[str]:
    """The system calls of `@name` (nested groups expanded), as `systemd-analyze syscall-filter`
    lists them."""
    listing = subprocess.run(
        [ANALYZE, "syscall-filter", name], capture_output=True, text=True, check=True
    ).stdout
    members = {line.strip() for line in listing.splitlines()[1:]} - {""}
    calls = {member for member in members if not member.startswith(("@", "#"))}
    for group in (member for member in members if member.startswith("@")):
        calls |= syscall_group(group)
    return frozenset(calls)


def syscall_allow_list(unit: Path) -> set[str]:
    """SystemCallFilter= as systemd reads it: the first line an allow list (plus @default), later
    lines
    starting with ~ take away, the others add."""
    allowed: set[str] = set(syscall_group("@default"))
    for value in values(unit, "SystemCallFilter"):
        remove = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= syscall_group(item) if item.startswith("@") else {item}
        allowed = allowed - names if remove else allowed | names
    return allowed


def sandbox_spec(unit: Path) -> dict:
    """What visord/testing/unit_sandbox.py needs to put the unit's seccomp settings on a process."""
    names = [name for value in values(unit, "RestrictAddressFamilies") for name in value.split()]
    families = [int(getattr(socket, name)) for name in names]
    number = (values(unit, "SystemCallErrorNumber") or ["EPERM"])[-1]
    return {
        "syscalls": sorted(syscall_allow_list(unit)),
        "errno": getattr(errno, number),
        "families": families or None,
        "deny_write_execute": (values(unit, "MemoryDenyWriteExecute") or ["no"])[-1] == "yes",
    }
