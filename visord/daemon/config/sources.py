"""What a stream's `source:` string may be, and the secret-safe type that holds it.

Owns the source kinds (`rtsp`, `http`, `device`, `file`, `demo`) and their
syntax checks. Error messages quote at most the scheme, never the URL: a
source may carry a password substituted from a credential.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from visord.contract.redact import redact_url
from visord.scenes.stream import check_stream_arguments

SourceKind = Literal["rtsp", "http", "device", "file", "demo"]

_SCHEMES: dict[str, SourceKind] = {
    "rtsp": "rtsp",
    "rtsps": "rtsp",
    "http": "http",
    "https": "http",
    "demo": "demo",
}
_INDEX = re.compile(r"^-?\d+$")
_VALID = (
    "rtsp://, rtsps://, http(s):// (MJPEG), /dev/videoN or a device index, "
    "a video file path, or demo://scenes"
)
MAX_DEVICE_INDEX = 63


def classify_source(text: str) -> SourceKind:
    """The kind of a source string; ValueError (without the URL in it) when it is none of them."""
    if not text.strip():
        raise ValueError(f"must not be empty (valid: {_VALID})")
    if _INDEX.match(text):
        if not 0 <= int(text) <= MAX_DEVICE_INDEX:
            raise ValueError(f"device index must be 0..{MAX_DEVICE_INDEX}, received {text}")
        return "device"
    if text.startswith("/dev/"):
        return "device"
    scheme, separator, _ = text.partition("://")
    if not separator:
        return "file"
    kind = _SCHEMES.get(scheme.lower())
    if kind is None:
        raise ValueError(f"unsupported scheme '{scheme[:20]}://' (valid: {_VALID})")
    _check_url(text, scheme, kind)
    return kind


def _check_url(text: str, scheme: str, kind: SourceKind) -> None:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise ValueError(f"not a valid {scheme}:// URL") from None
    if kind == "demo":
        parse_demo_url(text)
    elif not parts.hostname:
        raise ValueError(f"{scheme}:// URL has no host")


# What `demo://scenes?...` may set: `SceneStream`'s arguments (`hold` is hold_seconds, `size` is
# WIDTHxHEIGHT like a camera's resolution).
DEMO_PARAMETERS = {"seed": int, "fps": float, "difficulty": float, "hold": float, "size": str}


def parse_demo_url(text: str) -> dict[str, object]:
    """`SceneStream`'s keyword arguments from a `demo://scenes?seed=3&fps=10&size=640x480` URL,
    checked as `SceneStream` checks them (so a bad `?fps=` is a config error, not a camera that
    never opens); ValueError names the bad part, never the URL."""
    parts = urlsplit(text)
    if parts.netloc != "scenes" or parts.path not in ("", "/"):
        raise ValueError("the demo source is demo://scenes (synthetic surveillance scenes)")
    try:
        query = dict(parse_qsl(parts.query, strict_parsing=bool(parts.query)))
    except ValueError:
        raise ValueError("demo://scenes takes NAME=VALUE parameters joined by &") from None
    unknown = sorted(set(query) - set(DEMO_PARAMETERS))
    if unknown:
        raise ValueError(
            f"unknown parameter {unknown[0][:20]!r} in demo://scenes. "
            f"Valid: {', '.join(sorted(DEMO_PARAMETERS))}"
        )
    try:
        values = {key: DEMO_PARAMETERS[key](value) for key, value in query.items()}
        if "hold" in values:
            values["hold_seconds"] = values.pop("hold")
        if "size" in values:
            width, _, height = str(values.pop("size")).partition("x")
            values["size"] = (int(height), int(width))
        check_stream_arguments(**{k: v for k, v in values.items() if k != "seed"})
    except ValueError as error:
        raise ValueError(
            f"bad parameter in demo://scenes (size is WIDTHxHEIGHT): {error}"
        ) from None
    return values


class StreamSource(SecretStr):
    """A stream's source. `str()` and `repr()` show it redacted; `get_secret_value()` is what to
    open."""

    def _display(self) -> str:
        return redact_url(self.get_secret_value())

    @property
    def kind(self) -> SourceKind:
        return classify_source(self.get_secret_value())

    @property
    def redacted(self) -> str:
        return self._display()


def coerce_source(value: object) -> object:
    """YAML `source: 0` (an int) is the device index "0"; other types are left to the type check."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def check_source(value: StreamSource) -> StreamSource:
    classify_source(value.get_secret_value())
    return value
