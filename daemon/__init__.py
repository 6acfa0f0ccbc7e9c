"""visord's daemon half: streams in, ONNX recognition, events and metrics out. Never imports TensorFlow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("visord")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
