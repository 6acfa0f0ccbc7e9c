"""What the label page does to a data set: label, skip, delete, undo, add a class.

`Labeller` owns the data set while the page serves it: one lock around every action, so the
listing (`listing.Listing`), the journal (`journal.Journal`) and the files agree. Every path goes
through `paths.resolve`; every move is an `os.replace` inside DATASET:

- label: `unlabelled/<stream>/<name>.jpg` -> `<class>/<name>.jpg`, its record ->
  `.visord/records/<name>.json`;
- delete: the image -> `.visord/trash/<name>.jpg`, its record -> `.visord/records/<name>.json`;
- skip: nothing moves; the crop goes to the back of the listing;
- add a class: `mkdir <class>`;
- bulk (`label-many`, `skip-many`, `delete-many`): the same for many crops at once, one journal
  entry, undone whole;
- accept (`accept-many`): many crops, each labelled with the model's suggestion when it scores
  at least a threshold, one journal entry, undone whole;
- relabel (`relabel`, `delete-labelled`): labelled images (the model's mistakes) moved to
  another class folder or to the trash, one journal entry, undone whole;
- undo: the last action not yet undone, reversed (a class folder only while it is empty).

Each is appended to the journal after its moves succeeded; a move that fails half way is rolled
back, so an action happens whole or not at all (a bulk action too: every crop or none).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visord.contract.dataset import (
    ACTIONS,
    IMAGE_SUFFIX,
    RECORD_SUFFIX,
    RECORDS,
    TRASH,
    UNLABELLED,
    DatasetError,
    check_class_name,
    check_crop_name,
)
from visord.label.journal import Entry, Journal
from visord.label.listing import Crop, Listing
from visord.label.paths import Refused, Want, resolve
from visord.label.review import labelled_parts
from visord.label.stacks import Stack, Stacker

MAX_BULK = 5000  # crops in one bulk action at most
BULK = ("label", "skip", "delete")


class Labeller:
    """The label page's view of one data set and the actions on it; safe to call from the
    server's threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        resolve(self.root, [UNLABELLED], "dir")  # Refused(404) without it, 403 for a symlink
        self._lock = threading.Lock()
        self._closed = False
        self.journal = Journal(self._file_or_absent(ACTIONS.split("/")))
        self.listing = Listing(self.root, self.journal.skipped())
        self.stacker = Stacker(self.listing)
        self.default_order = self._default_order()

    def _default_order(self) -> str:
        """The page's order unless the person picks one, decided at start: the most uncertain
        first when every crop's suggestion names a class of the data set (a model of this
        camera made them, so its doubts mean something), else the least change first (round 1:
        no model of the camera yet, or a model with other labels, such as the demo's)."""
        self.listing.refresh()
        classes = set(self.listing.class_counts())
        crops = self.listing.crops.values()
        known = bool(crops) and all(crop.record.suggestion in classes for crop in crops)
        return "uncertain" if known else "change"

    def close(self) -> None:
        """Waits for an action in flight to finish and refuses every later one: the server is
        stopping, and a move cut in half by the exit would leave a crop in two places."""
        with self._lock:
            self._closed = True

    # Reading ----------------------------------------------------------------------------------

    def page(self, offset: int, limit: int) -> tuple[int, list[tuple[Crop, bool]]]:
        """The total of unlabelled crops and the `limit` of them from `offset`, in page order,
        each with whether it was skipped."""
        with self._lock:
            self.listing.refresh()
            crops = self.listing.page(offset, limit)
            skipped = self.listing.skipped
            return len(self.listing), [(crop, crop.name in skipped) for crop in crops]

    def stacks(
        self, offset: int, limit: int, threshold: float, order: str = "uncertain"
    ) -> tuple[int, int, list[Stack], set[str]]:
        """The number of stacks and of unlabelled crops, the `limit` stacks from `offset` in
        `order` (crops of a stream within `threshold` of each other: `stacks.Stacker`), and the
        names of the skipped crops."""
        with self._lock:
            self.listing.refresh()
            stacks = self.stacker.stacks(threshold, order)
            skipped = set(self.listing.skipped)
            return len(stacks), len(self.listing), stacks[offset : offset + limit], skipped

    def counts(self) -> tuple[dict[str, int], int]:
        """Images per class (in class order, which is the order of the keys 1-9) and the number
        of unlabelled crops."""
        with self._lock:
            self.listing.refresh()
            return self.listing.class_counts(), len(self.listing)

    # Actions ----------------------------------------------------------------------------------

    def label(self, name: object, class_name: object) -> Entry:
        with self._lock:
            self._check_open()
            crop = self._crop(name)
            folder = self._class(class_name)
            image, record = self._unlabelled(crop)
            image_to = resolve(self.root, [folder, crop.name + IMAGE_SUFFIX], "absent")
            record_to = self._record_destination(crop.name)
            self._move([(record, record_to), (image, image_to)])
            self.listing.remove(crop.name)
            return self.journal.append(
                "label", **self._fields(crop, folder, image, image_to, record, record_to)
            )

    def delete(self, name: object) -> Entry:
        with self._lock:
            self._check_open()
            crop = self._crop(name)
            image, record = self._unlabelled(crop)
            image_to = resolve(self.root, [*TRASH.split("/"), crop.name + IMAGE_SUFFIX], "absent")
            record_to = self._record_destination(crop.name)
            self._move([(record, record_to), (image, image_to)])
            self.listing.remove(crop.name)
            return self.journal.append(
                "delete", **self._fields(crop, None, image, image_to, record, record_to)
            )

    def skip(self, name: object) -> Entry:
        with self._lock:
            self._check_open()
            crop = self._crop(name)
            image, _ = self._unlabelled(crop)
            entry = self.journal.append(
                "skip", **self._fields(crop, None, image, image, None, None)
            )
            self.listing.set_skipped(crop.name, entry["id"])
            return entry

    def bulk(self, action: object, names: object, class_name: object = None) -> Entry:
        """`action` (label, skip or delete) on every crop in `names` as one journal entry
        (`label-many`, ...): all of them or, when one cannot be done, none."""
        with self._lock:
            self._check_open()
            if action not in BULK:
                raise Refused(400, f"action must be one of {', '.join(BULK)}")
            if not isinstance(names, list) or not 1 <= len(names) <= MAX_BULK:
                raise Refused(400, f"names must be a list of 1 to {MAX_BULK} crop names")
            crops = [self._crop(name) for name in names]
            if len({crop.name for crop in crops}) != len(crops):
                raise Refused(400, "a crop is named twice")
            folder = self._class(class_name) if action == "label" else None
            fields = []
            moves: list[tuple[Path, Path]] = []
            for crop in crops:
                image, record = self._unlabelled(crop)
                if action == "skip":
                    fields.append(self._fields(crop, None, image, image, None, None))
                    continue
                into = [folder] if folder is not None else TRASH.split("/")
                image_to = resolve(self.root, [*into, crop.name + IMAGE_SUFFIX], "absent")
                record_to = self._record_destination(crop.name)
                moves += [(record, record_to), (image, image_to)]
                fields.append(self._fields(crop, folder, image, image_to, record, record_to))
            self._move(moves)
            entry = self.journal.append(
                f"{action}-many",
                **{"name": None, "class": folder, "count": len(crops), "crops": fields},
            )
            for crop in crops:
                if action == "skip":
                    self.listing.set_skipped(crop.name, entry["id"])
                else:
                    self.listing.remove(crop.name)
            return entry

    def accept(self, names: object, threshold: object) -> Entry:
        """Every crop in `names` labelled with its suggestion (the answer of the model that ran
        last), as one journal entry (`accept-many`, undone whole): refused whole when one's
        suggestion scores below `threshold` or names no class of the data set."""
        with self._lock:
            self._check_open()
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise Refused(400, "threshold must be a number from 0 to 1")
            if not 0 < threshold <= 1:
                raise Refused(400, "threshold must be above 0 and at most 1")
            if not isinstance(names, list) or not 1 <= len(names) <= MAX_BULK:
                raise Refused(400, f"names must be a list of 1 to {MAX_BULK} crop names")
            crops = [self._crop(name) for name in names]
            if len({crop.name for crop in crops}) != len(crops):
                raise Refused(400, "a crop is named twice")
            classes: dict[str, str] = {}
            for crop in crops:
                answers = crop.record.answers
                if not answers:
                    raise Refused(409, f"{crop.name} has no suggestion")
                if answers[-1].score < threshold:
                    raise Refused(
                        409,
                        f"{crop.name}'s suggestion scores {answers[-1].score:.3f}, "
                        f"below {threshold:g}",
                    )
                suggestion = answers[-1].label
                if suggestion not in classes:
                    try:
                        classes[suggestion] = self._class(suggestion)
                    except Refused as refused:
                        raise Refused(
                            409,
                            f"the model suggests '{suggestion[:40]}', which is not a class "
                            f"here: {refused.message}",
                        ) from None
            fields = []
            moves: list[tuple[Path, Path]] = []
            for crop in crops:
                folder = classes[crop.record.answers[-1].label]
                image, record = self._unlabelled(crop)
                image_to = resolve(self.root, [folder, crop.name + IMAGE_SUFFIX], "absent")
                record_to = self._record_destination(crop.name)
                moves += [(record, record_to), (image, image_to)]
                fields.append(self._fields(crop, folder, image, image_to, record, record_to))
            self._move(moves)
            entry = self.journal.append(
                "accept-many",
                **{
                    "name": None,
                    "class": None,
                    "threshold": threshold,
                    "count": len(crops),
                    "crops": fields,
                },
            )
            for crop in crops:
                self.listing.remove(crop.name)
            return entry

    def relabel(self, paths: object, class_name: object) -> Entry:
        """Labelled images (`<class>/<file>` each) moved to the class `class_name`, or to the
        trash when it is None (`delete-labelled`): one journal entry (`relabel`), undone whole;
        all of them or none. Their records stay in .visord/records/."""
        with self._lock:
            self._check_open()
            if not isinstance(paths, list) or not 1 <= len(paths) <= MAX_BULK:
                raise Refused(400, f"paths must be a list of 1 to {MAX_BULK} image paths")
            if len(set(map(str, paths))) != len(paths):
                raise Refused(400, "an image is named twice")
            folder = None if class_name is None else self._class(class_name)
            fields = []
            moves: list[tuple[Path, Path]] = []
            for path in paths:
                parts = labelled_parts(path)
                if parts[0] == folder:
                    raise Refused(409, f"{path} is labelled {folder} already")
                image = resolve(self.root, parts, "file")
                into = [folder, *parts[1:]] if folder else [*TRASH.split("/"), parts[-1]]
                image_to = resolve(self.root, into, "absent")
                moves.append((image, image_to))
                fields.append(
                    {
                        "name": Path(parts[-1]).stem,
                        "class": folder,
                        "was": parts[0],
                        "from_path": self._relative(image),
                        "to_path": self._relative(image_to),
                    }
                )
            self._move(moves)
            return self.journal.append(
                "relabel" if folder else "delete-labelled",
                **{"name": None, "class": folder, "count": len(fields), "crops": fields},
            )

    def add_class(self, class_name: object) -> Entry:
        with self._lock:
            self._check_open()
            name = _checked(check_class_name, class_name, "class")
            try:
                folder = resolve(self.root, [name], "absent")
            except Refused as refused:
                if refused.status == 409:
                    raise Refused(409, f"class '{name}' exists already") from None
                raise
            folder.mkdir()
            return self.journal.append(
                "add-class", **{"name": None, "class": name, "from_path": None, "to_path": name}
            )

    def undo(self) -> tuple[Entry, Entry]:
        """Reverses the last action not yet undone; returns it and the undo entry."""
        with self._lock:
            self._check_open()
            entry = self.journal.last()
            if entry is None:
                raise Refused(409, "nothing to undo")
            action, name = entry["action"], entry.get("name")
            what = f"cannot undo {action} of {name or entry.get('class')}"
            fields: dict[str, Any] = {
                "undoes": entry["id"],
                "undone": action,
                "name": name,
                "class": entry.get("class"),
                "stream": entry.get("stream"),
                "from_path": entry.get("to_path"),
                "to_path": entry.get("from_path"),
                "record_from": entry.get("record_to"),
                "record_to": entry.get("record_from"),
            }
            if action in ("label", "delete"):
                try:
                    image = self._journal_path(entry["to_path"], "file")
                    record = self._journal_path(entry["record_to"], "file")
                    image_back = self._journal_path(entry["from_path"], "absent")
                    record_back = self._journal_path(entry["record_from"], "absent")
                except Refused as refused:
                    raise Refused(409, f"{what}: {refused.message}") from None
                # The image first, the record last: the crop is whole again once it is back.
                self._move([(image, image_back), (record, record_back)])
                undo = self.journal.append("undo", **fields)
                self.listing.load(image_back.parent.name, image_back.name[: -len(IMAGE_SUFFIX)])
            elif action == "skip":
                undo = self.journal.append("undo", **fields)
                self.listing.set_skipped(name, self.journal.skipped().get(name))
            elif action in ("relabel", "delete-labelled"):
                crops, moves = [], []
                for crop in entry.get("crops") or ():
                    try:
                        image = self._journal_path(crop.get("to_path"), "file")
                        image_back = self._journal_path(crop.get("from_path"), "absent")
                    except (Refused, AttributeError) as refused:
                        reason = getattr(refused, "message", "a bad journal entry")
                        raise Refused(409, f"{what}: {reason}") from None
                    moves.append((image, image_back))
                    crops.append(_reversed(crop))
                self._move(moves)
                fields["crops"] = crops
                fields["count"] = len(crops)
                undo = self.journal.append("undo", **fields)
            elif action in ("label-many", "delete-many", "accept-many"):
                crops, moves = [], []
                for crop in entry.get("crops") or ():
                    try:
                        image = self._journal_path(crop.get("to_path"), "file")
                        record = self._journal_path(crop.get("record_to"), "file")
                        image_back = self._journal_path(crop.get("from_path"), "absent")
                        record_back = self._journal_path(crop.get("record_from"), "absent")
                    except (Refused, AttributeError) as refused:
                        reason = getattr(refused, "message", "a bad journal entry")
                        raise Refused(409, f"{what}: {reason}") from None
                    moves += [(image, image_back), (record, record_back)]
                    crops.append(_reversed(crop))
                self._move(moves)
                fields["crops"] = crops
                fields["count"] = len(crops)
                undo = self.journal.append("undo", **fields)
                for _, back in moves[::2]:
                    self.listing.load(back.parent.name, back.name[: -len(IMAGE_SUFFIX)])
            elif action == "skip-many":
                crops = [_reversed(crop) for crop in entry.get("crops") or ()]
                fields["crops"] = crops
                fields["count"] = len(crops)
                undo = self.journal.append("undo", **fields)
                skipped = self.journal.skipped()
                for crop in crops:
                    self.listing.set_skipped(crop["name"], skipped.get(crop["name"]))
            elif action == "add-class":
                try:
                    self._journal_path(entry["to_path"], "dir").rmdir()
                except (Refused, OSError):
                    raise Refused(409, f"{what}: its folder is gone or not empty") from None
                undo = self.journal.append("undo", **fields)
            else:
                raise Refused(409, f"{what}: unknown action in {ACTIONS}")
            return entry, undo

    # Helpers ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise Refused(503, "the label server is stopping")

    def _crop(self, name: object) -> Crop:
        """The listed crop `name`; Refused 400 for a bad name, 404 for one not waiting."""
        name = _checked(check_crop_name, name, "crop")
        crop = self.listing.crops.get(name)
        if crop is None:
            self.listing.refresh()  # written since the last listing, perhaps
            crop = self.listing.crops.get(name)
        if crop is None:
            raise Refused(404, f"no unlabelled crop '{name}'")
        return crop

    def _class(self, class_name: object) -> str:
        name = _checked(check_class_name, class_name, "class")
        try:
            resolve(self.root, [name], "dir")
        except Refused as refused:
            if refused.status == 404:
                raise Refused(404, f"no class '{name}': add it first") from None
            raise
        return name

    def _unlabelled(self, crop: Crop) -> tuple[Path, Path]:
        folder = [UNLABELLED, crop.stream]
        return (
            resolve(self.root, [*folder, crop.name + IMAGE_SUFFIX], "file"),
            resolve(self.root, [*folder, crop.name + RECORD_SUFFIX], "file"),
        )

    def _record_destination(self, name: str) -> Path:
        return resolve(self.root, [*RECORDS.split("/"), name + RECORD_SUFFIX], "absent")

    def _file_or_absent(self, parts: Sequence[str]) -> Path:
        try:
            return resolve(self.root, parts, "file")
        except Refused as refused:
            if refused.status != 404:
                raise
            return resolve(self.root, parts, "absent")

    def _journal_path(self, text: object, want: Want) -> Path:
        if not isinstance(text, str):
            raise Refused(400, "the journal entry lacks a path")
        return resolve(self.root, text.split("/"), want)

    def _relative(self, path: Path | None) -> str | None:
        return None if path is None else path.relative_to(self.root).as_posix()

    def _fields(
        self,
        crop: Crop,
        class_name: str | None,
        image: Path,
        image_to: Path,
        record: Path | None,
        record_to: Path | None,
    ) -> dict[str, Any]:
        return {
            "name": crop.name,
            "class": class_name,
            "stream": crop.stream,
            "from_path": self._relative(image),
            "to_path": self._relative(image_to),
            "record_from": self._relative(record),
            "record_to": self._relative(record_to),
        }

    def _move(self, moves: list[tuple[Path, Path]]) -> None:
        """Renames each pair in turn; puts back the ones done when one fails."""
        done: list[tuple[Path, Path]] = []
        for source, target in moves:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
            except OSError as error:
                for moved_from, moved_to in reversed(done):
                    os.replace(moved_to, moved_from)
                # Gone meanwhile: `visord collect` trims the oldest crops while the page is open.
                status = 404 if isinstance(error, FileNotFoundError) else 500
                raise Refused(status, f"cannot move {source.name}: {error.strerror}") from None
            done.append((source, target))


def _reversed(crop: dict[str, Any]) -> dict[str, Any]:
    """One crop of a bulk entry with its moves the other way round (what its undo does)."""
    return {
        "name": crop.get("name"),
        "stream": crop.get("stream"),
        "from_path": crop.get("to_path"),
        "to_path": crop.get("from_path"),
        "record_from": crop.get("record_to"),
        "record_to": crop.get("record_from"),
    }


def _checked(check: Any, value: object, kind: str) -> str:
    """`check(value)` for a name from a request: Refused(400) with the rule when it fails."""
    if not isinstance(value, str):
        raise Refused(400, f"a {kind} name must be a string")
    try:
        return check(value)
    except DatasetError as error:
        raise Refused(400, str(error)) from None
