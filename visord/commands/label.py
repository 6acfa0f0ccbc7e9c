"""`visord label DATASET`: the web page that sorts collected crops into classes (`visord.label`).

Owns the command line around the page: its options, the checks before serving (the data set,
the token), the lock that keeps a second label server off the same data set, the address and
counts printed at start, and a clean stop (exit 0) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import re
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from visord.contract import exitcodes
from visord.contract.dataset import META, UNLABELLED

if TYPE_CHECKING:
    from visord.label.actions import Labeller
    from visord.label.review import Review

# A token from a file goes into a URL and a cookie as it is: URL- and cookie-safe characters only.
TOKEN = re.compile(r"[A-Za-z0-9._~-]{16,512}")


class _Stop(Exception):
    """One line for stderr and the exit status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "label",
        parents=[common],
        help="sort collected crops into classes in a web page",
        description="Serve a web page that shows the crops waiting in DATASET/unlabelled/ (what "
        "`visord collect` keeps) with the models' suggestion, and moves them into "
        "DATASET/<class>/. Look-alike crops of a region are one tile (a stack); a click, "
        "shift-click, drag or `a` selects many tiles, and one key labels them all (1-9, Enter "
        "takes the suggestion, s skips, x deletes to DATASET/.visord/trash/, u or Ctrl-Z "
        "undoes). 'accept' labels every crop of the page or the selection whose suggestion "
        "scores at least S with it, in one action; with --run it shows what share of the "
        "run's validation images scoring at least S the model got right, and the images it got "
        "wrong, to relabel or delete in place. Order: the most uncertain first when every "
        "crop's suggestion is a class of DATASET, else the least change first (the page's "
        "order control changes it). Every action, one crop or many, is one line in "
        "DATASET/.visord/labels.jsonl and can be undone whole, also after a restart. Prints "
        "the page's address and the counts, then serves until Ctrl-C or SIGTERM. Only this "
        "machine can open the page unless --listen says otherwise.",
    )
    parser.add_argument(
        "dataset",
        type=Path,
        metavar="DATASET",
        help="the teaching data set: unlabelled/<stream>/ holds the crops, one folder per class",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default 127.0.0.1: this machine only). Any other address, "
        "0.0.0.0 included, requires the access token: made at start and printed in the page's "
        "address (?token=...), or read from --token-file",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=9109,
        help="TCP port (default 9109; 0 picks a free one)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="read the access token from FILE instead of making one, e.g. a systemd credential "
        "($CREDENTIALS_DIRECTORY/label-token): one line of at least 16 characters from "
        "A-Z a-z 0-9 . _ ~ -. Once given, every request needs it, on 127.0.0.1 too; it is not "
        "printed",
    )
    parser.add_argument(
        "--run",
        type=Path,
        metavar="RUN",
        help="a run folder of `visord train` on this data set (or its "
        "validation_predictions.json): the page shows the validation images its model got "
        "wrong and the confusion matrix, and beside 'accept' what share of its validation "
        "images scoring at least S it got right",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="MODEL",
        help="the ONNX file exported from RUN, the one the daemon runs: its calibration "
        "(temperature) puts the run's scores on the scale of the suggestions' scores; "
        "without it they are taken as they are",
    )
    parser.set_defaults(handler=run_label)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port (0-65535)")
    return int(text)


def run_label(args: argparse.Namespace) -> int:
    from visord.label.actions import Labeller
    from visord.label.paths import Refused

    try:
        root = _dataset(args.dataset)
        token = _token(args.token_file, args.listen)
        try:
            labeller = Labeller(root)
        except Refused as refused:
            raise _Stop(exitcodes.DATAERR, f"{root}: {refused.message}") from None
        except OSError as error:
            raise _Stop(exitcodes.NOINPUT, f"{root}: {error.strerror}: {error.filename}") from None
        review = _review(args.run, args.model)
        with _DatasetLock(labeller.root):
            return _serve(
                labeller, args.listen, args.port, token, from_file=args.token_file, review=review
            )
    except _Stop as stop:
        print(f"visord label: {stop}", file=sys.stderr)
        return stop.status
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED  # Ctrl-C while reading the data set, before serving


def _review(run: Path | None, model: Path | None) -> Review | None:
    """The model given with --run and --model, or None."""
    from visord.label.review import Review, ReviewError

    if run is None and model is None:
        return None
    for option, path in (("--run", run), ("--model", model)):
        if path is not None and not path.exists():
            raise _Stop(exitcodes.NOINPUT, f"{option} {path}: no such file or folder")
    try:
        return Review.load(run, model)
    except ReviewError as error:
        raise _Stop(exitcodes.DATAERR, str(error)) from None


def _dataset(path: Path) -> Path:
    if not path.is_dir():
        reason = "not a folder" if path.exists() else "no such folder"
        raise _Stop(exitcodes.NOINPUT, f"{path}: {reason}")
    if not (path / UNLABELLED).is_dir():
        raise _Stop(
            exitcodes.NOINPUT,
            f"{path} has no {UNLABELLED}/ folder: not a teaching data set "
            "(`visord collect` writes the crops to label there)",
        )
    return path


def _token(path: Path | None, listen: str) -> str | None:
    """The token every request needs, or None when the page stays on loopback without one."""
    from visord.label.server import is_loopback

    if path is None:
        return None if is_loopback(listen) else secrets.token_urlsafe(24)
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise _Stop(exitcodes.NOINPUT, f"cannot read --token-file {path}: {reason}") from None
    if not TOKEN.fullmatch(text):
        raise _Stop(
            exitcodes.DATAERR,
            f"--token-file {path}: a token is one line of at least 16 characters from "
            "A-Z a-z 0-9 . _ ~ - (make one: python3 -c 'import secrets; "
            "print(secrets.token_urlsafe())')",
        )
    return text


class _DatasetLock:
    """An exclusive lock on DATASET/.visord/label.lock: one label server per data set."""

    def __init__(self, root: Path) -> None:
        self.path = root / META / "label.lock"
        self.handle: IO[str] | None = None

    def __enter__(self) -> None:
        try:
            self.path.parent.mkdir(exist_ok=True)
            self.handle = open(self.path, "a")  # held until __exit__
        except OSError as error:
            raise _Stop(
                exitcodes.CANTCREAT, f"cannot write {self.path}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise _Stop(
                exitcodes.TEMPFAIL, f"another visord label is serving {self.path.parent.parent}"
            ) from None

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()  # closing releases the lock


def _serve(
    labeller: Labeller,
    listen: str,
    port: int,
    token: str | None,
    from_file: Path | None,
    review: Review | None = None,
) -> int:
    from visord.contract.pages import PageMissing
    from visord.label.server import make_server, page_url

    try:
        server = make_server(labeller, listen, port, token, review)
    except PageMissing as error:
        raise _Stop(exitcodes.SOFTWARE, str(error)) from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise _Stop(
                exitcodes.TEMPFAIL, f"port {port} on {listen} is taken (another --port?)"
            ) from None
        reason = error.strerror or str(error)
        raise _Stop(exitcodes.UNAVAILABLE, f"cannot listen on {listen}:{port}: {reason}") from None

    counts, unlabelled = labeller.counts()
    classes = ", ".join(f"{name} {count}" for name, count in counts.items())
    print(
        f"visord label: {labeller.root}: {unlabelled} unlabelled; "
        + (f"classes: {classes}" if counts else "no classes yet (add them in the page)"),
        flush=True,
    )
    if review is not None:
        print(f"visord label: {_describe(review)}", flush=True)
    if from_file is not None:
        address = page_url(server, listen, None) + f"?token=<the token in {from_file}>"
    else:
        address = page_url(server, listen, token)
    print(f"open {address}  (Ctrl-C stops)", flush=True)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return: from another thread, not this one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        labeller.close()  # waits for an action in flight; refuses any after it
        server.server_close()
    print("visord label: stopped", flush=True)
    return exitcodes.OK


def _describe(review: Review) -> str:
    info = review.model_info()
    parts = []
    if info["run"] is not None:
        parts.append(
            f"run {info['run']}: {info['images']} validation images, {len(review.mistakes)} wrong"
        )
    if info["model"] is not None:
        scale = f"temperature {info['temperature']:g}" if info["calibrated"] else "not calibrated"
        parts.append(f"model {info['model']} ({scale})")
    return "; ".join(parts)
