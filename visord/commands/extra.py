"""What the training commands share: whether the `train` extra (TensorFlow, Keras) is installed
and the one line to print when it is not, loading TensorFlow without its start-up banner, and how
much progress to print.

The training commands ask before they import anything of `visord.training`, so that `visord train`
on a camera box says what to install instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import sys

MISSING_EXTRA = (
    "visord {command} needs the train extra (TensorFlow), which is not installed here: "
    "in the visord checkout run `make train-extra` (the same as `.venv/bin/pip install -e "
    "'.[train]'`)"
)


def train_extra_missing(command: str) -> str | None:
    """The message to print when TensorFlow is missing, else None."""
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        return MISSING_EXTRA.format(command=command)
    return None


def tensorflow_missing(command: str) -> bool:
    """True (after printing what to install) when TensorFlow is missing. `load_tensorflow` then
    imports it quietly."""
    message = train_extra_missing(command)
    if message:
        print(message, file=sys.stderr)
        return True
    return False


def load_tensorflow() -> None:
    """Imports TensorFlow without its banner: call it before importing a module of
    `visord.training` that needs TensorFlow (config errors are reported before, without it)."""
    from visord.training import import_tensorflow

    import_tensorflow()


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
