"""`visord` as a user runs it: a fresh interpreter, so that what it imports is what a user gets."""

from __future__ import annotations

import subprocess
import sys


def visord(*args: str, python_prelude: str = "") -> subprocess.CompletedProcess:
    code = (
        f"import sys\n{python_prelude}\nfrom visord.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
