"""`visord.label` without HTTP: the path gate, the sorted listing, the actions on disk, the journal
and undo (also across a restart)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from visord.contract.dataset import (
    Answer,
    CropRecord,
    crop_name,
    read_record,
    write_crop,
)
from visord.label.actions import Labeller
from visord.label.paths import Refused, resolve, url_parts
from visord.label.sample import crop_jpeg, write_sample

TIME = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_record(stream: str, minutes: int, reason: str, *scores: tuple[str, float]) -> CropRecord:
    time = TIME + timedelta(minutes=minutes)
    answers = tuple(
        Answer(model=model, label=label, score=score)
        for model, (label, score) in zip(("small", "large"), scores)
    )
    return CropRecord(
        name=crop_name(stream, time, minutes),
        stream=stream,
        time=time,
        reason=reason,
        answers=answers,
        width=96,
        height=96,
    )


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    (root / "unlabelled").mkdir(parents=True)
    (root / "people").mkdir()
    (root / "empty").mkdir()
    return root


def journal(root) -> list[dict]:
    return [json.loads(line) for line in (root / ".visord/labels.jsonl").read_text().splitlines()]


# The path gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        ["..", "x"],
        ["unlabelled", ".."],
        ["."],
        ["/etc"],
        ["a/b"],
        ["a\\b"],
        ["a\0"],
        ["%2e%2e"],
        [""],
    ],
)
def test_resolve_refuses_parts_that_could_leave_the_folder(dataset, parts):
    with pytest.raises(Refused) as refused:
        resolve(dataset.resolve(), parts, "file")
    assert refused.value.status == 400


def test_resolve_refuses_symlinks_on_the_way_and_at_the_end(dataset, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    (dataset / "unlabelled" / "evil").symlink_to(outside)
    (dataset / "unlabelled" / "x.jpg").symlink_to(outside / "secret.jpg")
    (dataset / "unlabelled" / "inside.jpg").symlink_to(dataset / "people")
    root = dataset.resolve()
    for parts in (["unlabelled", "evil", "secret.jpg"], ["unlabelled", "x.jpg"]):
        with pytest.raises(Refused) as refused:
            resolve(root, parts, "file")
        assert refused.value.status == 403 and "symlink" in refused.value.message
    with pytest.raises(Refused, match="symlink"):
        resolve(root, ["unlabelled", "evil", "new.jpg"], "absent")
    with pytest.raises(Refused, match="symlink"):
        resolve(root, ["unlabelled", "inside.jpg"], "dir")  # even one pointing inside


def test_resolve_names_missing_and_existing_destinations(dataset):
    root = dataset.resolve()
    assert resolve(root, ["people"], "dir") == root / "people"
    assert resolve(root, [".visord", "trash", "a.jpg"], "absent") == root / ".visord/trash/a.jpg"
    with pytest.raises(Refused) as refused:
        resolve(root, ["people"], "absent")
    assert refused.value.status == 409
    with pytest.raises(Refused) as refused:
        resolve(root, ["nobody", "a.jpg"], "file")
    assert refused.value.status == 404


def test_url_parts_decode_once():
    assert url_parts("/crops/hall/a.jpg") == ["crops", "hall", "a.jpg"]
    assert url_parts("/crops/%2e%2e/a") == ["crops", "..", "a"]  # then refused by check_part
    assert url_parts("/crops/%252e%252e/a") == ["crops", "%2e%2e", "a"]  # the % stays: refused
    with pytest.raises(Refused):
        url_parts("/crops//etc/passwd")
    with pytest.raises(Refused):
        url_parts("/crops/%ff/a")  # not UTF-8


# The listing -------------------------------------------------------------------------------------


def test_the_most_uncertain_come_first_then_by_reason_then_the_newest(dataset):
    records = {
        "older unsure": make_record("hall", 1, "unsure", ("people", 0.55)),
        "disagree": make_record("gate", 2, "disagree", ("people", 0.9), ("empty", 0.8)),
        "newer change": make_record("hall", 3, "change", ("people", 0.55)),
        "newer unsure": make_record("gate", 4, "unsure", ("empty", 0.55)),
        "sure": make_record("hall", 5, "baseline", ("empty", 0.95)),
    }
    for record in records.values():
        write_crop(dataset, record, b"jpeg")
    total, page = Labeller(dataset).page(0, 10)
    order = ["disagree", "newer unsure", "older unsure", "newer change", "sure"]
    assert total == 5
    assert [crop.name for crop, _ in page] == [records[key].name for key in order]
    assert page[0][0].record.suggestion == "empty"  # the large model's word


def test_crops_written_or_removed_while_serving_show_up_without_rereading_the_rest(dataset):
    labeller = Labeller(dataset)
    assert labeller.page(0, 10)[0] == 0
    first = make_record("hall", 1, "unsure", ("people", 0.6))
    write_crop(dataset, first, b"jpeg")
    assert [crop.name for crop, _ in labeller.page(0, 10)[1]] == [first.name]
    # An image without its record yet is not a crop: the record is written last.
    (dataset / "unlabelled/hall/hall-20260301T090000-000-000099.jpg").write_bytes(b"half")
    assert labeller.page(0, 10)[0] == 1
    os.remove(dataset / "unlabelled/hall" / f"{first.name}.json")
    assert labeller.page(0, 10)[0] == 0


def test_symlinks_and_unreadable_records_are_not_listed(dataset, tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = make_record("hall", 1, "disagree", ("people", 0.9), ("empty", 0.9))
    (outside / f"{planted.name}.jpg").write_bytes(b"secret")
    write_crop(dataset, planted, b"jpeg")
    image = dataset / "unlabelled/hall" / f"{planted.name}.jpg"
    image.unlink()
    image.symlink_to(outside / f"{planted.name}.jpg")
    # A whole stream folder that is a symlink to crops elsewhere.
    elsewhere = make_record("gate", 2, "disagree", ("people", 0.9), ("empty", 0.9))
    write_crop(outside, elsewhere, b"jpeg")
    (dataset / "unlabelled/gate").symlink_to(outside / "unlabelled/gate")
    broken = dataset / "unlabelled/yard" / f"{crop_name('yard', TIME, 3)}.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    broken.with_suffix(".jpg").write_bytes(b"jpeg")
    good = make_record("yard", 4, "unsure", ("people", 0.7))
    write_crop(dataset, good, b"jpeg")
    labeller = Labeller(dataset)
    assert [crop.name for crop, _ in labeller.page(0, 10)[1]] == [good.name]
    assert "not a crop record" in caplog.text
    with pytest.raises(Refused) as refused:
        labeller.label(planted.name, "people")
    assert refused.value.status == 404
    assert image.is_symlink() and (outside / f"{planted.name}.jpg").read_bytes() == b"secret"


def test_a_record_in_another_streams_folder_and_a_folder_that_is_no_class_are_left_out(dataset):
    misplaced = make_record("hall", 1, "unsure", ("people", 0.6))
    write_crop(dataset, misplaced, b"jpeg")
    (dataset / "unlabelled/hall").rename(dataset / "unlabelled/gate")
    (dataset / "Holiday Photos").mkdir()
    labeller = Labeller(dataset)
    assert labeller.counts() == ({"empty": 0, "people": 0}, 0)


# The actions -------------------------------------------------------------------------------------


def test_labelling_moves_the_image_and_its_record_and_journals_both_moves(dataset):
    record = write_sample(dataset, 3)[0]
    labeller = Labeller(dataset)
    entry = labeller.label(record.name, "people")
    assert (dataset / "people" / f"{record.name}.jpg").read_bytes() == crop_jpeg(0)
    assert read_record(dataset / ".visord/records" / f"{record.name}.json") == record
    assert not (dataset / "unlabelled" / record.stream / f"{record.name}.jpg").exists()
    assert not (dataset / "unlabelled" / record.stream / f"{record.name}.json").exists()
    assert journal(dataset) == [entry]
    assert entry | {"time": None} == {
        "time": None,
        "id": 1,
        "action": "label",
        "name": record.name,
        "class": "people",
        "stream": record.stream,
        "from_path": f"unlabelled/{record.stream}/{record.name}.jpg",
        "to_path": f"people/{record.name}.jpg",
        "record_from": f"unlabelled/{record.stream}/{record.name}.json",
        "record_to": f".visord/records/{record.name}.json",
    }
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    assert labeller.page(0, 10)[0] == 2
    assert labeller.counts() == ({"empty": 0, "people": 1}, 2)


def test_refusals_leave_every_file_where_it_was(dataset):
    records = write_sample(dataset, 2)
    labeller = Labeller(dataset)
    before = sorted(str(path.relative_to(dataset)) for path in dataset.rglob("*"))
    (dataset / "people" / f"{records[1].name}.jpg").write_bytes(b"already here")
    cases = [
        (lambda: labeller.label(records[0].name, "bicycle"), 404, "add it first"),
        (lambda: labeller.label(records[0].name, "../people"), 400, "cannot be a class"),
        (lambda: labeller.label(records[0].name, "unlabelled"), 400, "cannot be a class"),
        (lambda: labeller.label("../../etc/passwd", "people"), 400, "not a crop name"),
        (lambda: labeller.label(7, "people"), 400, "must be a string"),
        (lambda: labeller.label(crop_name("hall", TIME, 5), "people"), 404, "no unlabelled"),
        (lambda: labeller.label(records[1].name, "people"), 409, "already exists"),
        (lambda: labeller.add_class("people"), 409, "exists already"),
        (lambda: labeller.add_class("Bad Name"), 400, "cannot be a class"),
        (lambda: labeller.undo(), 409, "nothing to undo"),
    ]
    for action, status, message in cases:
        with pytest.raises(Refused) as refused:
            action()
        assert (refused.value.status, message in refused.value.message) == (status, True)
    (dataset / "people" / f"{records[1].name}.jpg").unlink()
    assert sorted(str(path.relative_to(dataset)) for path in dataset.rglob("*")) == before
    assert not (dataset / ".visord/labels.jsonl").exists()


def test_delete_goes_to_the_trash_and_skip_to_the_back_and_undo_reverses_each(dataset):
    records = write_sample(dataset, 4, seed=3)
    labeller = Labeller(dataset)
    order = [crop.name for crop, _ in labeller.page(0, 10)[1]]
    first, second = order[:2]
    labeller.skip(first)
    assert [crop.name for crop, _ in labeller.page(0, 10)[1]] == order[1:] + [first]
    assert labeller.page(0, 10)[1][-1][1] is True  # marked skipped
    labeller.delete(second)
    stream = next(record.stream for record in records if record.name == second)
    assert (dataset / ".visord/trash" / f"{second}.jpg").exists()
    assert (dataset / ".visord/records" / f"{second}.json").exists()
    assert not (dataset / "unlabelled" / stream / f"{second}.jpg").exists()
    undone, undo = labeller.undo()
    assert (undone["action"], undo["action"], undo["undoes"]) == ("delete", "undo", undone["id"])
    assert (undo["from_path"], undo["to_path"]) == (undone["to_path"], undone["from_path"])
    assert (dataset / "unlabelled" / stream / f"{second}.jpg").exists()
    assert not (dataset / ".visord/trash" / f"{second}.jpg").exists()
    assert labeller.undo()[0]["action"] == "skip"
    assert [crop.name for crop, _ in labeller.page(0, 10)[1]] == order


def test_undo_is_repeatable_and_works_after_a_restart(dataset):
    records = write_sample(dataset, 3)
    labeller = Labeller(dataset)
    labeller.add_class("bicycle")
    labeller.label(records[0].name, "bicycle")
    labeller.label(records[1].name, "empty")
    labeller.skip(records[2].name)
    restarted = Labeller(dataset)  # a new server reads the journal again
    assert restarted.listing.skipped == {records[2].name: 4}
    assert [restarted.undo()[0]["action"] for _ in range(3)] == ["skip", "label", "label"]
    with pytest.raises(Refused, match="not empty"):
        (dataset / "bicycle" / "mine.jpg").write_bytes(b"x")
        restarted.undo()  # a class folder goes only while it is empty
    (dataset / "bicycle" / "mine.jpg").unlink()
    assert restarted.undo()[0]["action"] == "add-class"
    assert not (dataset / "bicycle").exists()
    with pytest.raises(Refused, match="nothing to undo"):
        Labeller(dataset).undo()
    assert restarted.page(0, 10)[0] == 3
    for record in records:
        assert read_record(dataset / "unlabelled" / record.stream / f"{record.name}.json") == record
    actions = [(entry["action"], entry.get("undone")) for entry in journal(dataset)]
    assert actions == [
        ("add-class", None),
        ("label", None),
        ("label", None),
        ("skip", None),
        ("undo", "skip"),
        ("undo", "label"),
        ("undo", "label"),
        ("undo", "add-class"),
    ]


def test_a_journal_line_torn_by_a_crash_is_skipped_and_not_continued(dataset, caplog):
    records = write_sample(dataset, 2)
    Labeller(dataset).label(records[0].name, "people")
    with open(dataset / ".visord/labels.jsonl", "a") as handle:
        handle.write('{"time": "2026-')  # a crash in the middle of a line
    labeller = Labeller(dataset)
    labeller.label(records[1].name, "empty")
    assert "not a journal entry" in caplog.text
    assert [entry["name"] for entry in labeller.journal.stack] == [r.name for r in records]
    assert Labeller(dataset).undo()[0]["name"] == records[1].name


def test_a_closed_labeller_refuses_actions(dataset):
    record = write_sample(dataset, 1)[0]
    labeller = Labeller(dataset)
    labeller.close()
    with pytest.raises(Refused) as refused:
        labeller.label(record.name, "people")
    assert refused.value.status == 503
