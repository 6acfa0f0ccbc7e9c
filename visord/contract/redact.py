"""Redaction of secrets in stream URLs, for logs, events, `visord check` and metric labels.

A URL with credentials (`rtsp://user:pass@cam/stream`) is shown as
`rtsp://***@cam/stream`: the host and path stay, so an operator can still tell
cameras apart, while the user name and the password never leave the process.
"""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd|pass|token|key|auth)=)[^&#]*")


def redact_url(url: str) -> str:
    """The URL with its user information and secret-looking query values replaced by `***`."""
    url = _CREDENTIALS.sub(r"\g<scheme>***@", url)
    return _SECRET_QUERY.sub(r"\1***", url)
