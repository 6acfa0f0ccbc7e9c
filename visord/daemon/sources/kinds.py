"""The registry of source makers, one per source kind.

Which kind a source string is (`rtsp`, `http`, `device`, `file`, `demo`) is decided in one place,
`visord.daemon.config.sources.classify_source`, which the config's validation uses too: a string
that validates as a device is opened as a device. `create_source` only builds the source object;
the reader opens it.
"""

from __future__ import annotations

from collections.abc import Callable

from visord.contract.registry import Registry
from visord.daemon.config.sources import SourceKind, classify_source
from visord.daemon.sources.base import FrameSource, SourceOptions
from visord.daemon.sources.capture import DeviceSource
from visord.daemon.sources.decoder import DecoderSource, FileDecoderSource
from visord.daemon.sources.demo import DemoSource

SourceMaker = Callable[[str, SourceOptions], FrameSource]
SOURCES: Registry[SourceMaker] = Registry("source kind")


def create_source(source: str, options: SourceOptions | None = None) -> FrameSource:
    """A new, unopened source for `source` (ValueError when the string or its options are
    invalid)."""
    kind: SourceKind = classify_source(source)
    return SOURCES.get(kind)(source, options or SourceOptions())


@SOURCES.register("rtsp")
def _rtsp(source: str, options: SourceOptions) -> FrameSource:
    return DecoderSource(source, options, transport=options.transport)


@SOURCES.register("http")
def _http(source: str, options: SourceOptions) -> FrameSource:
    return DecoderSource(source, options)


@SOURCES.register("device")
def _device(source: str, options: SourceOptions) -> FrameSource:
    return DeviceSource(int(source) if source.isdigit() else source)


@SOURCES.register("file")
def _file(source: str, options: SourceOptions) -> FrameSource:
    return FileDecoderSource(source.removeprefix("file://"), options)


@SOURCES.register("demo")
def _demo(source: str, options: SourceOptions) -> FrameSource:
    return DemoSource(source)
