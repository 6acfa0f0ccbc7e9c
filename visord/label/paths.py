"""The one gate from names in a request to files in the data set.

Every path the label page reads, serves or moves is built by `resolve`: it takes the parts as
separate strings, refuses any that could step elsewhere (`..`, `/`, backslashes, NUL, `%` left
over from double encoding, anything outside a short safe alphabet), then walks the parts from the
data set's root with `lstat`, refusing symlinks on the way. So a symlink planted in `unlabelled/`
is neither served nor moved, and nothing outside DATASET is ever touched. `url_parts` decodes a
URL path exactly once into such parts.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

# Crop, class, stream and suffix names all fit in this; a leading dot only for `.visord`.
_PART = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A stream folder: the stream part of a crop name (`visord.contract.dataset.crop_name`).
STREAM = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

Want = Literal["file", "dir", "absent"]


class Refused(Exception):
    """A request the label page will not carry out: an HTTP status and a short reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_part(part: object) -> str:
    """One path component, or Refused(400)."""
    if not isinstance(part, str) or part in (".", "..") or not _PART.fullmatch(part):
        shown = repr(part)[:60]
        raise Refused(400, f"bad path component {shown}")
    return part


def resolve(root: Path, parts: Sequence[str], want: Want) -> Path:
    """`root/part/part/...` after checking every part and every existing step on disk.

    `root` is the data set's real path (`Path.resolve()` once at start). `want` says what must be
    there: a regular `file`, a `dir`, or nothing (`absent`: a destination; folders on the way may
    be missing, the caller creates them). Refused: 400 for a bad part, 403 for a symlink or a
    step outside `root`, 404 when the file or folder is missing, 409 when a destination exists.
    """
    if not parts:
        raise Refused(400, "empty path")
    checked = [check_part(part) for part in parts]
    shown = "/".join(checked)
    step = root
    for index, part in enumerate(checked):
        step = step / part
        last = index == len(checked) - 1
        try:
            mode = os.lstat(step).st_mode
        except FileNotFoundError:
            if want == "absent":
                break  # the rest does not exist either: nothing there to follow
            raise Refused(404, f"not found: {shown}") from None
        except OSError as error:
            raise Refused(403, f"cannot read {shown}: {error.strerror}") from None
        if stat.S_ISLNK(mode):
            raise Refused(403, f"refused: {'/'.join(checked[: index + 1])} is a symlink")
        if not last and not stat.S_ISDIR(mode):
            raise Refused(404, f"not found: {shown}")
        if last:
            if want == "absent":
                raise Refused(409, f"already exists: {shown}")
            if want == "file" and not stat.S_ISREG(mode):
                raise Refused(404, f"not a file: {shown}")
            if want == "dir" and not stat.S_ISDIR(mode):
                raise Refused(404, f"not a folder: {shown}")
    path = root.joinpath(*checked)
    # Belt and braces: the walk above already rules this out unless the tree changes under it.
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        raise Refused(403, f"refused: {shown} is outside the data set")
    return path


def url_parts(raw_path: str) -> list[str]:
    """The segments of a URL path (without its query), each percent-decoded exactly once.

    A segment that decodes to something with `/`, `\\`, `%` (double encoding), NUL, `.` or `..`
    fails `check_part` later; an empty segment (`//`, an absolute path smuggled in) fails here.
    """
    if not raw_path.startswith("/"):
        raise Refused(400, "bad path")
    segments = raw_path[1:].split("/")
    try:
        decoded = [unquote(segment, errors="strict") for segment in segments]
    except UnicodeDecodeError:
        raise Refused(400, "bad path: not UTF-8") from None
    if any(segment == "" for segment in decoded[:-1]):
        raise Refused(400, "bad path: empty component")
    return decoded
