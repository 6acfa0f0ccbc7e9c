"""Diverse and balanced collection (issue 24, item 4): the diversity budget per region and per hour
(the most different crops kept, less different ones replaced, labelled ones never), the class
floor in the chooser and the writer, their config, and both on real footage through the writer."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest

from visord.contract.dataset import read_record
from visord.daemon.collect import Collector
from visord.daemon.collect.choose import Chooser
from visord.daemon.collect.diverse import HOUR, Region, difference
from visord.daemon.collect.writer import Candidate, Counts, CropWriter, crop_of
from visord.daemon.config import CollectConfig, ConfigError, parse_config
from visord.daemon.config.collect import DiversityConfig
from visord.daemon.inference.engine import Prediction
from visord.daemon.router.motion import shrink
from visord.testing import footage
from visord.testing.onnx_models import small_and_large, small_and_large_yaml

CAMERA = Path(__file__).resolve().parent.parent / "config" / "teach" / "camera.yaml"

T0 = 1_800_000_000.0 - 1_800_000_000.0 % HOUR  # the start of an hour of the clock


def answer(label: str, score: float, model: str = "small") -> Prediction:
    return Prediction(label, score, np.array([score, 1 - score]), model)


def thumbnail(columns: int, width: int = 128, height: int = 48) -> np.ndarray:
    """A grey thumbnail whose first `columns` columns are bright: two of them differ on
    |a - b| / width of their pixels."""
    image = np.full((height, width), 80, np.float32)
    image[:, :columns] = 200
    return image


# -- config


def test_the_defaults_keep_todays_behaviour():
    settings = CollectConfig(dataset=Path("x"))
    assert settings.diversity is None and settings.class_floor == 0


def parse_collect(tmp_path, collect: str):
    models = small_and_large(tmp_path)
    text = small_and_large_yaml(models, "  - {name: hall, source: demo://scenes, model: small}\n")
    return parse_config(text + f"collect: {collect}\n", "test.yaml")


@pytest.mark.parametrize(
    ("collect", "message"),
    [
        (
            "{dataset: d, diversity: {per_hour: 50, min_difference: 0}}",
            r"collect.diversity.min_difference: must be > 0",
        ),
        ("{dataset: d, diversity: {min_difference: 0.1}}", r"collect.diversity.per_hour: .*"),
        ("{dataset: d, diversity: {per_hour: 5, every: 3}}", r"collect.diversity.every: "),
        ("{dataset: d, class_floor: 0.7}", r"collect.class_floor: must be <= 0.5"),
        (
            "{dataset: d, per_stream: 100, diversity: {per_hour: 200}}",
            r"diversity.per_hour \(200\) is more than per_stream \(100\)",
        ),
    ],
)
def test_the_config_says_what_is_wrong_with_the_key_path(tmp_path, collect, message):
    with pytest.raises(ConfigError, match=message):
        parse_collect(tmp_path, collect)


def test_a_valid_section_parses(tmp_path):
    collect = parse_collect(
        tmp_path, "{dataset: d, class_floor: 0.2, diversity: {per_hour: 60}}"
    ).collect
    assert collect.diversity == DiversityConfig(per_hour=60, min_difference=0.01)
    assert collect.class_floor == 0.2


# -- the region: budget, replacement, class floor

BUDGET3 = DiversityConfig(per_hour=3, min_difference=0.05)


def keep(region: Region, name: str, small, label="people", budget=BUDGET3, floor=0.0, **kw):
    verdict = region.judge(small, label, budget, floor, **kw)
    if verdict.keep:
        if verdict.replaces is not None:
            region.remove(verdict.replaces)
        region.add(name, small, label, verdict)
    return verdict


def test_while_the_budget_has_room_only_crops_different_from_every_kept_one_are_kept():
    region = Region(0)
    assert keep(region, "a", thumbnail(0)).keep
    assert not keep(region, "a2", thumbnail(2)).keep  # 2/128 = 2% from a: below 5%
    assert keep(region, "b", thumbnail(16)).keep
    verdict = keep(region, "b2", thumbnail(18))
    assert not verdict.keep and verdict.novelty == pytest.approx(2 / 128)
    assert [kept.name for kept in region.kept] == ["a", "b"]


def test_once_full_a_more_different_crop_replaces_the_least_different_kept_one():
    region = Region(0)
    for name, columns in (("a", 0), ("b", 8), ("c", 40)):  # a and b are 8/128 apart: least
        assert keep(region, name, thumbnail(columns)).keep
    assert not keep(region, "d", thumbnail(48)).keep  # 8/128 from c: not more than a or b
    verdict = keep(region, "e", thumbnail(24))  # 16/128 from b and c
    assert verdict.keep and verdict.replaces.name in {"a", "b"}
    names = {kept.name for kept in region.kept}
    assert len(names) == 3 and "e" in names and "c" in names
    nearest = {kept.name: kept.nearest for kept in region.kept}
    smalls = {kept.name: kept.small for kept in region.kept}
    for name in names:  # each crop knows its nearest neighbour after the replacement
        others = [difference(smalls[name], smalls[o]) for o in names if o != name]
        assert nearest[name] == pytest.approx(min(others))


def test_a_crop_labelled_meanwhile_is_never_replaced_but_still_counts():
    region = Region(0)
    for name, columns in (("a", 0), ("b", 8), ("c", 40)):
        keep(region, name, thumbnail(columns))
    labelled = {"a", "b"}
    # c is the only unlabelled crop; e (60/128 from c) is more different than c (32/128 from b)
    verdict = keep(region, "e", thumbnail(100), replaceable=lambda name: name not in labelled)
    assert verdict.keep and verdict.replaces.name == "c"
    assert {kept.name for kept in region.kept} == {"a", "b", "e"}
    labelled.add("e")
    assert not keep(region, "f", thumbnail(60), replaceable=lambda n: n not in labelled).keep


def test_the_class_floor_keeps_a_starving_class_and_never_replaces_what_it_needs():
    region = Region(0)
    budget = DiversityConfig(per_hour=4, min_difference=0.05)
    keep(region, "e1", thumbnail(0), "empty", budget, 0.25)
    for name, columns in (("p1", 20), ("p2", 40), ("p3", 60)):
        assert keep(region, name, thumbnail(columns), "people", budget, 0.25).keep
    assert region.share("empty") == 0.25
    # full: "e1" is the least different of none (all 20/64 apart or more), but a people crop that
    # would replace it cannot: empty would fall below its floor
    verdict = keep(region, "p4", thumbnail(10), "people", budget, 0.25)
    assert not verdict.keep or verdict.replaces.label == "people"
    # an empty crop like e1 is kept for the floor when empty is below it, replacing people
    region2 = Region(0)
    keep(region2, "e1", thumbnail(0), "empty", budget, 0.4)
    for name, columns in (("p1", 20), ("p2", 40), ("p3", 60)):
        keep(region2, name, thumbnail(columns), "people", budget, 0.4)
    verdict = keep(region2, "e2", thumbnail(1), "empty", budget, 0.4)
    assert verdict.keep and verdict.floor and verdict.replaces.label == "people"
    assert region2.share("empty") == 0.5


# -- the chooser's class floor


def test_the_chooser_keeps_sure_frames_of_a_starving_class_as_baseline():
    settings = {"every": 0, "min_interval": 0, "after_change": False}
    floor = Chooser(CollectConfig(dataset=Path("x"), class_floor=0.25, **settings))
    plain = Chooser(CollectConfig(dataset=Path("x"), **settings))
    reasons = {"floor": [], "plain": []}
    unsure_people, sure_empty = answer("people", 0.4), answer("empty", 0.95)
    for second in range(40):
        frame = [unsure_people] if second % 4 else [sure_empty]  # empty one frame in 4
        reasons["floor"].append(floor.reason("lawn", frame, float(second)))
        reasons["plain"].append(plain.reason("lawn", frame, float(second)))
    assert reasons["plain"].count("baseline") == 0 and reasons["plain"].count("unsure") == 30
    assert reasons["floor"].count("unsure") == 30
    assert reasons["floor"].count("baseline") == 9  # all but one of the 10 empty frames
    assert floor.share("lawn", "empty") == pytest.approx(9 / 39)  # at the floor, or one short
    assert floor.share("door", "empty") == 0.0
    floor.forget("lawn")
    assert floor.share("lawn", "empty") == 0.0


def test_an_unsure_answer_counts_towards_no_class():
    """A young model calls people `empty` with a low score: those frames are kept as unsure, and
    they do not fill the floor of `empty`, so the frames it is sure are empty are kept too."""
    choose = Chooser(
        CollectConfig(
            dataset=Path("x"), class_floor=0.2, every=0, min_interval=0, after_change=False
        )
    )
    for second in range(8):
        assert choose.reason("lawn", [answer("empty", 0.45)], float(second)) == "unsure"
    assert choose.share("lawn", "empty") == 0.0
    assert choose.reason("lawn", [answer("empty", 0.95)], 9.0) == "baseline"
    assert choose.reason("lawn", [answer("empty", 0.95)], 10.0) == "baseline"  # 1 of 9 < 20%
    assert choose.share("lawn", "empty") == pytest.approx(0.2)
    assert choose.reason("lawn", [answer("empty", 0.95)], 11.0) is None
    # a cascade whose models disagree is not sure either
    assert choose.reason("door", [answer("empty", 0.9), answer("people", 0.9, "large")], 0.0)
    assert choose.share("door", "people") == 0.0


def test_the_floor_only_keeps_what_is_missing():
    choose = Chooser(
        CollectConfig(
            dataset=Path("x"), class_floor=0.2, every=0, min_interval=0, after_change=False
        )
    )
    sure_people, sure_empty = answer("people", 0.9), answer("empty", 0.9)
    assert choose.reason("lawn", [sure_empty], 0.0) == "baseline"  # nothing kept yet
    assert choose.reason("lawn", [sure_empty], 1.0) is None  # empty is 100%: nothing missing
    assert choose.reason("lawn", [sure_people], 2.0) == "baseline"  # people 0%
    assert choose.reason("lawn", [sure_people], 3.0) is None  # 50%


# -- through the writer, with the frame's wall clock as the clock


def scene(shift: int) -> np.ndarray:
    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.rectangle(image, (shift, 20), (shift + 30, 100), (20, 200, 240), -1)
    return image


def write(writer: CropWriter, items, stream="lawn"):
    for wall, image, label in items:
        candidate = Candidate(stream, image, None, (answer(label, 0.4),), "unsure", wall)
        assert writer.submit(candidate)
    writer.close()


def on_disk(root: Path, stream="lawn") -> list[Path]:
    return sorted((root / "unlabelled" / stream).glob("*.jpg"))


def diverse(root: Path, per_hour: int) -> CollectConfig:
    """Collecting into `root` every crop that changed at all, with a budget of `per_hour` crops
    an hour at least 0.05 apart."""
    return CollectConfig(
        dataset=root, min_change=0, diversity={"per_hour": per_hour, "min_difference": 0.05}
    )


def test_the_writer_keeps_the_hours_budget_of_the_most_different_crops(tmp_path):
    root = tmp_path / "data"
    settings = diverse(root, per_hour=3)
    counts = Counts()
    writer = CropWriter(settings, counts)
    shifts = [0, 2, 20, 4, 120, 22, 60]  # 2, 4 and 22 are too like a kept one
    items = [(T0 + 10 * k, scene(shift), "people") for k, shift in enumerate(shifts)]
    items.append((T0 + HOUR + 1, scene(0), "people"))  # the next hour: a new budget
    write(writer, items)
    saved, dropped, evicted = counts.copy()
    assert saved == {("lawn", "unsure"): 5}  # 0, 20, 120, 60 and the next hour's 0
    assert dropped == {("lawn", "not_novel"): 3}
    assert evicted == {("lawn",): 1}  # 60 replaced 0 or 20, the least different pair
    files = on_disk(root)
    assert len(files) == 4
    assert len(list((root / "unlabelled" / "lawn").glob("*.json"))) == 4
    hours = {int(read_record(f.with_suffix(".json")).time.timestamp() // HOUR) for f in files}
    assert len(hours) == 2
    this_hour = [
        f for f in files if read_record(f.with_suffix(".json")).time.timestamp() < T0 + HOUR
    ]
    smalls = [shrink(cv2.imread(str(f)), None) for f in this_hour]
    assert all(difference(a, b) > 0.05 for a, b in combinations(smalls, 2))


def stopped_writer(settings: CollectConfig, counts: Counts) -> CropWriter:
    """A writer whose thread has stopped: `_write` then runs in the test, one crop at a time."""
    writer = CropWriter(settings, counts)
    writer.close()
    return writer


def write_now(writer: CropWriter, wall: float, image, label: str, stream="lawn") -> None:
    writer._write(Candidate(stream, image, None, (answer(label, 0.9),), "baseline", wall))


def test_the_writer_never_replaces_a_crop_labelled_meanwhile(tmp_path):
    root = tmp_path / "data"
    settings = diverse(root, per_hour=2)
    counts = Counts()
    writer = stopped_writer(settings, counts)
    write_now(writer, T0, scene(0), "people")
    write_now(writer, T0 + 1, scene(10), "people")
    first, second = on_disk(root)
    (root / "people").mkdir()
    first.rename(root / "people" / first.name)  # the person labels the first one
    first.with_suffix(".json").rename(root / "people" / f"{first.stem}.json")
    write_now(writer, T0 + 2, scene(100), "people")  # replaces the second, not the first
    assert [path.name for path in on_disk(root)] != [second.name]
    assert len(on_disk(root)) == 1 and (root / "people" / first.name).exists()
    assert counts.copy()[2] == {("lawn",): 1}
    write_now(writer, T0 + 3, scene(50), "people")  # nothing left to replace but the new one
    assert len(on_disk(root)) == 1


def test_a_floor_crop_skips_the_near_duplicate_check(tmp_path):
    root = tmp_path / "data"
    counts = Counts()
    writer = stopped_writer(CollectConfig(dataset=root, class_floor=0.4), counts)  # min_change 5%
    for second, (shift, label) in enumerate(
        [(0, "empty"), (60, "people"), (100, "people"), (100, "people"), (100, "empty")]
    ):
        write_now(writer, T0 + second, scene(shift), label)
    saved, dropped, _ = counts.copy()
    assert dropped == {("lawn", "duplicate"): 1}  # the second people crop at 100
    assert saved == {("lawn", "baseline"): 4}  # the last: like the one before, but empty 1 of 3


# -- real footage: the PETS 2009 clip's regions, a crop a second, through the writer's thread


@pytest.fixture(scope="module")
def pets():
    try:
        clip = footage.h264_clip()
    except footage.FootageMissing as missing:
        pytest.skip(str(missing))
    frames = footage.read_frames(clip, 0, footage.SPLIT)[:: footage.VTEST_FPS]
    return frames, footage.Scene.from_config(CAMERA)


def nearest_mean(smalls: list[np.ndarray]) -> float:
    """The mean difference of each thumbnail to the most alike other one: how spread a set is."""
    return float(np.mean([min(difference(a, b) for b in smalls if b is not a) for a in smalls]))


@pytest.mark.parametrize("stream", ["lawn", "road-west"])
def test_on_real_footage_the_budget_keeps_spread_crops_of_both_classes(tmp_path, pets, stream):
    frames, scene = pets
    roi = scene.rois[stream]
    root = tmp_path / "data"
    counts = Counts()
    settings = CollectConfig(
        dataset=root,
        min_change=0,
        queue=len(frames),
        class_floor=0.25,
        diversity={"per_hour": 12, "min_difference": 0.01},
    )
    writer = CropWriter(settings, counts)
    truth = []  # the rule stands in for the model's answer (ambiguous: people)
    for second, frame in enumerate(frames):
        label = scene.label(stream, roi.crop(frame)) or footage.PEOPLE
        truth.append(label)
        candidate = Candidate(stream, frame, roi, (answer(label, 0.9),), "baseline", T0 + second)
        assert writer.submit(candidate)
    writer.close(timeout=30)
    files = on_disk(root, stream)
    saved, dropped, evicted = counts.copy()
    assert 8 <= len(files) <= 12
    assert saved[(stream, "baseline")] - evicted.get((stream,), 0) == len(files)
    assert dropped[(stream, "not_novel")] == len(frames) - saved[(stream, "baseline")]
    kept = [cv2.imread(str(path)) for path in files]
    labels = [scene.label(stream, crop) or footage.PEOPLE for crop in kept]
    for name in (footage.EMPTY, footage.PEOPLE):  # each class at its floor, or one short
        assert labels.count(name) >= 0.25 * len(files) - 1, (name, labels)
    # more spread than the first 12 crops or 12 drawn at random of the same seconds
    diverse = nearest_mean([shrink(crop, None) for crop in kept])
    first = [shrink(crop_of(frame, roi, 320), None) for frame in frames[:12]]
    drawn = np.random.default_rng(0).choice(len(frames), 12, replace=False)
    sample = [shrink(crop_of(frames[index], roi, 320), None) for index in drawn]
    assert diverse > 2 * max(nearest_mean(first), nearest_mean(sample))


def test_the_collectors_floor_counts_what_the_writer_saved_not_what_was_chosen(tmp_path):
    """Empty scenes look alike: the writer drops most as near-duplicates, so the chooser's floor
    reads the writer's crops of the hour, and keeps offering empty frames until enough are saved."""
    collector = Collector(CollectConfig(dataset=tmp_path / "data", class_floor=0.4))
    collector.close()
    writer, chooser = collector.writer, collector.chooser
    assert chooser.shares == writer.share
    write_now(writer, T0, scene(0), "empty")
    write_now(writer, T0 + 1, scene(0), "empty")  # a near-duplicate: dropped
    for second in range(2, 5):
        write_now(writer, T0 + second, scene(30 * second), "people")
    assert writer.share("lawn", "empty") == 0.25 and writer.share("door", "empty") == 0.0
    sure_empty = [answer("empty", 0.95)]
    settings = {"every": 0, "min_interval": 0}
    collector.reconfigure(CollectConfig(dataset=tmp_path / "data", class_floor=0.4, **settings))
    assert chooser.reason("lawn", sure_empty, T0) == "baseline"  # 25% saved, below 40%
    assert chooser.reason("lawn", sure_empty, T0 + 1) == "baseline"  # still: nothing saved yet
