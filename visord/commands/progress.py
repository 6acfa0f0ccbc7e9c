"""How much progress the training commands print: bars when a person watches a terminal, one line
per epoch or trial in a pipe, a file or a journal, nothing when quiet."""

from __future__ import annotations

import sys


def interactive() -> bool:
    """True when a person watches: stdout and stderr are both terminals, so progress bars (which
    redraw themselves with carriage returns and colour codes) are readable; in a pipe, a file or
    a journal they are not."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def keras_verbosity(quiet: bool) -> int:
    """Keras's `verbose`: 0 when quiet, a progress bar (1) on a terminal, else one line per epoch
    (2)."""
    if quiet:
        return 0
    return 1 if interactive() else 2
