"""Log set-up: one line per state change, as key=value text or as JSON objects.

Owns the two formats `--log-format` offers. Messages are written key=value by the modules
themselves (`log.info("stream=%s started source=%s", ...)`); the text format prints them as they
are. The JSON format wraps each record with its time, level and logger, keeps the whole message
readable in `message`, and makes each `key=value` pair of it a field of its own (`stream`, `state`,
`error`, ...), so a log shipper can filter on them without regexes; values given through
`extra={...}` become fields too.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import sys
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The fields every JSON line has; a key=value pair of the same name stays in the message only.
RESERVED = ("time", "level", "logger", "message", "exception")
# key=value at the start of a word: a quoted value is a Python repr (the modules log reasons
# with %r), a bracketed one a list or tuple (`input=[None, 8, 8, 3]`), anything else runs to the
# next space. Words inside a value are never looked at.
_PAIR = re.compile(
    r"(?:(?<=\s)|^)(?P<key>[a-z_][a-z0-9_]*)="
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\[[^\[\]]*\]|\([^()]*\)|\S*)"""
)
# What a LogRecord holds of its own: any other attribute came through `extra=`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def message_fields(message: str) -> dict[str, str]:
    """The key=value pairs of a log message, values as strings (quoted ones unquoted); the first
    of a repeated key wins."""
    fields: dict[str, str] = {}
    for match in _PAIR.finditer(message):
        key = match["key"]
        value = match["value"]
        if value[:1] in ("'", '"'):
            try:
                value = ast.literal_eval(value)
            except (SyntaxError, ValueError):  # not a repr after all: keep it as written
                pass
        fields.setdefault(key, str(value))
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        for key, value in {**message_fields(message), **extra}.items():
            if key not in RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Logs to stderr (journald picks it up under systemd), replacing earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
