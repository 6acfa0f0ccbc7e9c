"""Capped exponential backoff with jitter: how long a reader waits before reconnecting.

Delays grow `initial, initial*m, initial*m^2, ...` up to `maximum`; jitter scales each one
by a random factor in `[1 - jitter, 1]` so cameras that dropped together (a switch
rebooting) do not reconnect in lockstep. The random source is injectable for tests.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 10.0,
        multiplier: float = 2.0,
        jitter: float = 0.5,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(
                f"need 0 < initial <= maximum, received initial={initial!r}, maximum={maximum!r}"
            )
        if multiplier < 1 or not 0 <= jitter <= 1:
            raise ValueError(
                f"need multiplier >= 1 and 0 <= jitter <= 1, received multiplier={multiplier!r}, "
                f"jitter={jitter!r}"
            )
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self._random = random
        self._ceiling = initial

    def next_delay(self) -> float:
        """The next wait in seconds; each call raises the ceiling for the one after, up to
        `maximum`."""
        ceiling = self._ceiling
        self._ceiling = min(self.maximum, ceiling * self.multiplier)
        return ceiling * (1.0 - self.jitter * self._random())

    def reset(self) -> None:
        """Back to `initial`, after a connection proved healthy."""
        self._ceiling = self.initial
