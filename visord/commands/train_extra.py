"""Whether the `train` extra (TensorFlow, Keras) is installed, the one line to print when it is
not, and loading TensorFlow without its start-up banner: what the training commands ask first.

The training commands ask before they import anything of `visord.training`, so that `visord train`
on a camera box says what to install instead of a traceback. (How much progress they print is
`visord.commands.progress`.)
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
