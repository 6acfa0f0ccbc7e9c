"""The teaching data set's contract: crop names, class names, records, atomic writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from visord.contract.dataset import (
    Answer,
    CropRecord,
    DatasetError,
    check_class_name,
    class_folders,
    crop_name,
    read_record,
    write_crop,
)

TIME = datetime(2026, 11, 30, 12, 34, 56, 789_000, tzinfo=UTC)


def record(**changes) -> CropRecord:
    fields = {
        "name": crop_name("hall", TIME, 7),
        "stream": "hall",
        "time": TIME,
        "reason": "unsure",
        "answers": (Answer(model="small", label="people", score=0.55),),
        "width": 96,
        "height": 96,
    }
    return CropRecord(**(fields | changes))


def test_a_crop_name_sorts_by_time_and_names_its_stream():
    assert crop_name("hall", TIME, 7) == "hall-20261130T123456-789-000007"


def test_a_crop_is_complete_once_its_record_is_there_and_reads_back(tmp_path):
    image = write_crop(tmp_path, record(), b"jpeg bytes")
    assert image == tmp_path / "unlabelled" / "hall" / "hall-20261130T123456-789-000007.jpg"
    assert image.read_bytes() == b"jpeg bytes"
    assert read_record(image.with_suffix(".json")) == record()
    assert sorted(p.name for p in image.parent.iterdir()) == [image.name, f"{image.stem}.json"]


def test_uncertainty_is_one_when_the_models_disagree_else_one_minus_the_first_score():
    assert record().uncertainty == pytest.approx(0.45)
    both = (
        Answer(model="small", label="people", score=0.9),
        Answer(model="large", label="empty", score=0.8),
    )
    assert record(answers=both, reason="disagree").uncertainty == 1.0
    assert record(answers=both).suggestion == "empty"  # the large model's word


@pytest.mark.parametrize("name", ["", "Cats", "unlabelled", ".hidden", "../x", "a/b", "x" * 41])
def test_bad_class_names_are_refused_with_the_rule(name):
    with pytest.raises(DatasetError, match="cannot be a class: use lowercase"):
        check_class_name(name)


def test_class_folders_skip_unlabelled_and_hidden_folders(tmp_path):
    for folder in ("people", "empty", "unlabelled/hall", ".visord/records"):
        (tmp_path / folder).mkdir(parents=True)
    assert [path.name for path in class_folders(tmp_path)] == ["empty", "people"]


def test_a_broken_record_names_its_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(DatasetError, match=f"{path}: not a crop record"):
        read_record(path)
