"""visord: streaming video recognition for surveillance boxes, and the Keras pipeline that trains
its models.

`visord.daemon` is the camera box (never imports TensorFlow nor `visord.training`),
`visord.training` the training pipeline, `visord.contract` what both share, `visord.commands` the
command line above both.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("visord")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
