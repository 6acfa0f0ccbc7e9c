"""The registry of source kinds, and the one place a source string is mapped to its kind.

Kinds are named by URL scheme (`rtsp`, `rtsps`, `http`, `https`, `demo`, `file`), plus `v4l2`
for `/dev/videoN` or a bare camera index; a string with no scheme is a file path. An
unknown scheme raises ValueError listing the valid ones. `create_source` only builds the
source object (validating it); the reader opens it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from daemon.registry import Registry
from daemon.sources.base import FrameSource, SourceOptions
from daemon.sources.capture import DeviceSource, FileSource, NetworkSource
from daemon.sources.demo import DemoSource

SourceMaker = Callable[[str, SourceOptions], FrameSource]
SOURCES: Registry[SourceMaker] = Registry("source kind")
_DEVICE = re.compile(r"/dev/video\d+|\d+")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def source_kind(source: str) -> str:
    """The registered kind that reads `source` (ValueError for an unknown scheme)."""
    if _DEVICE.fullmatch(source):
        return "v4l2"
    scheme = _SCHEME.match(source)
    kind = scheme.group(1).lower() if scheme else "file"
    SOURCES.get(kind)
    return kind


def create_source(source: str, options: SourceOptions = SourceOptions()) -> FrameSource:
    """A new, unopened source for `source` (ValueError when the string or its options are invalid)."""
    return SOURCES.get(source_kind(source))(source, options)


@SOURCES.register("rtsp")
def _rtsp(source: str, options: SourceOptions) -> FrameSource:
    return NetworkSource(source, options, transport=options.transport)


@SOURCES.register("http")
def _http(source: str, options: SourceOptions) -> FrameSource:
    return NetworkSource(source, options)


@SOURCES.register("v4l2")
def _v4l2(source: str, options: SourceOptions) -> FrameSource:
    return DeviceSource(int(source) if source.isdigit() else source)


@SOURCES.register("file")
def _file(source: str, options: SourceOptions) -> FrameSource:
    return FileSource(source.removeprefix("file://"), options)


@SOURCES.register("demo")
def _demo(source: str, options: SourceOptions) -> FrameSource:
    return DemoSource(source)


SOURCES.add("rtsps", _rtsp)
SOURCES.add("https", _http)
