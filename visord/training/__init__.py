"""The training pipeline: Keras architectures, data, training, evaluation, ONNX export,
quantization, tuning.

The package itself owns one thing: importing TensorFlow without its start-up banner
(`import_tensorflow`). TensorFlow's C++ libraries log through absl before anything can set a log
level (`TF_CPP_MIN_LOG_LEVEL` is read too late for them), so the oneDNN, CPU-feature and CUDA
plugin lines go straight to file descriptor 2. The training commands and the tune worker
processes call it before anything imports TensorFlow; importing this package imports nothing
heavy.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# What TensorFlow writes to fd 2 while it loads and that says nothing to a visord user: absl's
# preamble, its INFO lines (TF_CPP_MIN_LOG_LEVEL=2 asks for none), and the CPU-feature and CUDA
# plugin notices a CPU-only or a GPU machine prints on every start.
BANNER = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^I\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] "
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|^To enable the following instructions: "
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|Could not find cuda drivers on your machine"
)


def import_tensorflow() -> None:
    """Imports TensorFlow and Keras with their start-up banner left out; anything else they write
    to stderr while loading (a real warning, an error) is passed on."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines()
            kept = [line for line in lines if not BANNER.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()
