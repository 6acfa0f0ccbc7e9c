"""The one way tests wait: poll a condition until it holds, or fail naming what never happened.

A timeout here is a bound on a hang, never a performance assertion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 30.0, what: str = "condition", every: float = 0.02
) -> T:
    """Polls `condition` until it returns something true, and returns that; AssertionError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
