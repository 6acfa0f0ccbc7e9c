"""Whether the `train` extra (TensorFlow, Keras) is installed, and the one line to print when it is
not.

The training commands ask before they import anything of `visord.training`, so that `visord train`
on a camera box says what to install instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import os
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


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow_missing(command: str) -> bool:
    """True (after printing what to install) when TensorFlow is missing; otherwise quiets its
    logs."""
    message = train_extra_missing(command)
    if message:
        print(message, file=sys.stderr)
        return True
    quiet_tensorflow()
    return False
