"""A browser page served from a package's `static/` folder: the label page, the live page.

Owns what both pages share: the security headers every answer carries (nothing loaded from
elsewhere: the page, its script, its style and its images come from the server that sent it), and
reading the page's files once, at start, from a fixed table (URL key -> file name and content
type), so that no part of a request ever becomes a file name, and a package installed without its
files fails at start (`PageMissing`), not at the first visit.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from importlib import resources

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class PageMissing(OSError):
    """A page's static/ folder is not in the installed package (its package data was left out)."""


def read_static(
    package: str, table: Mapping[Hashable, tuple[str, str]], page: str
) -> dict[Hashable, tuple[bytes, str]]:
    """Each key of `table` -> (the bytes of its file in `package`'s static/, its content type);
    PageMissing naming `page` when one cannot be read."""
    folder = resources.files(package).joinpath("static")
    try:
        return {
            key: (folder.joinpath(name).read_bytes(), kind) for key, (name, kind) in table.items()
        }
    except OSError as error:
        raise PageMissing(f"the {page} is not installed: {error}") from None
