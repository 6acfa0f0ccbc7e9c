"""`visord train --search DURATION`: the duration, the space derived from a base config, the time
plan, the worker loop's deadline, and whole searches on the quadrant images.

The searches run on a clock twenty times faster than the wall's (`visord.training.tune.quick.now`
replaced), so a five-minute search takes seconds; what they check is the bookkeeping the clock
drives (which trials started, why no further one did), never how long anything took.
"""

from __future__ import annotations

import json
import math
import time

import pytest
import yaml
from optuna.trial import TrialState

from visord.cli import main
from visord.commands.train import parse_duration
from visord.contract import exitcodes
from visord.testing.quadrants import tiny_raw
from visord.training.config import load_config, parse_config
from visord.training.export import export
from visord.training.tune import quick
from visord.training.tune.params import Choices
from visord.training.tune.quick import SearchTooShort, expand, plan_time, search_space
from visord.training.tune.settings import TuneConfig, TuneSettings
from visord.training.tune.space import trial_config
from visord.training.tune.study import open_study
from visord.training.tune.worker import Deadline, Evaluation, work

SPEED = 20.0  # the searches' clock runs this many times faster than the wall's
SEARCHED_STEPS, SEARCHED_SPEED = 5000, 5.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("15", 900), ("1.5h", 5400), (" 2M ", 120)],
)
def test_a_duration_is_seconds_minutes_or_hours(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "15x", "-5m", "m", "1h30m", "30s", "0", "0.5"])
def test_a_bad_duration_names_the_flag(text):
    with pytest.raises(ValueError, match="^--search: "):
        parse_duration(text)


def test_a_bad_duration_is_a_usage_error(quadrants, tmp_path, capsys):
    status = main(["train", "--data", str(quadrants), "--search", "ten", "--output", str(tmp_path)])
    assert status == exitcodes.USAGE == 64
    assert "visord train: --search: " in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def base_config(tmp_path, **changes):
    raw = tiny_raw(tmp_path / "data", tmp_path / "runs")
    raw.update(changes)
    return parse_config(raw)


MOBILENET = {
    "architecture": "mobilenet",
    "architecture_options": {"alpha": 0.5, "output_stride": 16},
    "data": {"path": "data", "image_size": [64, 64]},
    "augmentation": {
        "rotation_range": 120.0,
        "zoom_range": 0.6,
        "width_shift_range": 0.1,
        "horizontal_flip": True,
    },
    "loss": {"name": "categorical_crossentropy", "label_smoothing": 0.05},
    "optimizer": {"name": "adam", "learning_rate": 0.002, "schedule": {"name": "cosine"}},
    "steps": 300,
}


def test_the_space_of_a_mobilenet_base(tmp_path):
    base = base_config(tmp_path, **MOBILENET)
    knobs = search_space(base, base.steps)
    assert list(knobs) == [
        "architecture_options.alpha",
        "side",
        "optimizer.learning_rate",
        "schedule",
        "weight_decay",
        "augmentation_strength",
        "loss.label_smoothing",
        "steps",
    ]
    assert knobs["architecture_options.alpha"].param.choices == [0.25, 0.5, 0.75, 1.0]
    assert knobs["side"].param.choices == [32, 48, 64]  # never under MobileNet's 32
    rate = knobs["optimizer.learning_rate"].param
    assert rate.log and rate.low < 0.002 < rate.high
    assert knobs["steps"].param.choices == [150, 300, 600]
    # the base's own values give the base config back: it is trial 0
    params = {key: knob.base for key, knob in knobs.items()}
    assert trial_config(base.model_dump(mode="json"), params, expand=expand) == base


def test_the_space_of_a_dnn_base_leaves_out_what_it_cannot_take(tmp_path):
    base = base_config(
        tmp_path,
        optimizer={"name": "sgd", "learning_rate": 0.05},
        loss={"name": "mse"},
        minutes=2.0,
    )
    knobs = search_space(base, None)  # only minutes bound it: no steps to scale
    assert list(knobs) == [
        "architecture_options.filters",
        "architecture_options.dense_units",
        "side",
        "optimizer.learning_rate",
        "schedule",
    ]
    assert knobs["architecture_options.filters"].param.choices == [4, 8, 16]
    assert knobs["architecture_options.dense_units"].param.choices == [8, 16, 32]
    assert knobs["side"].param.choices == [16, 24, 32]
    assert knobs["schedule"].param.choices == ["constant", "cosine", "cosine_warmup"]
    assert knobs["schedule"].base == "constant"


def test_a_mobilenet_at_its_smallest_side_and_pretrained_weights_search_no_side(tmp_path):
    small = base_config(tmp_path, **{**MOBILENET, "data": {"path": "d", "image_size": [32, 32]}})
    assert "side" not in search_space(small, 100)
    pretrained = base_config(
        tmp_path,
        architecture="transfer",
        architecture_options={"weights": "imagenet"},
        data={"path": "d", "image_size": [96, 96]},
    )
    knobs = search_space(pretrained, 100)
    assert "side" not in knobs and "architecture_options.alpha" not in knobs
    scratch = base_config(tmp_path, architecture="transfer", architecture_options={})
    assert search_space(scratch, 100)["architecture_options.alpha"].param.choices == [
        0.35,
        0.5,
        0.75,
        1.0,
    ]


def laid(base, **params):
    return trial_config(base.model_dump(mode="json"), params, expand=expand)


def test_augmentation_strength_scales_the_nonzero_keys_within_the_schema(tmp_path):
    base = base_config(tmp_path, **MOBILENET)
    strong = laid(base, augmentation_strength=2.0).augmentation
    assert strong.rotation_range == 180.0  # 240 clipped to the schema's le=180
    assert 0.99 < strong.zoom_range < 1.0  # 1.2 clipped just under the schema's lt=1
    assert strong.width_shift_range == pytest.approx(0.2)
    assert strong.height_shift_range == 0.0 and strong.brightness == 0.0  # zero stays zero
    assert strong.horizontal_flip and not strong.vertical_flip  # flips as the base has them
    half = laid(base, augmentation_strength=0.5).augmentation
    assert (half.rotation_range, half.zoom_range) == (60.0, 0.3)
    off = laid(base, augmentation_strength=0.0).augmentation
    assert off.rotation_range == off.zoom_range == off.width_shift_range == 0.0
    assert off.horizontal_flip
    bare = base_config(tmp_path)
    assert "augmentation_strength" not in search_space(bare, 10)  # nothing to scale


def test_the_derived_knobs_set_their_keys(tmp_path):
    base = base_config(tmp_path, **MOBILENET)
    smaller = laid(base, side=32)
    assert smaller.data.image_size == (32, 32)
    assert smaller.architecture_options["output_stride"] == 8  # the same 4x4 last feature map
    wide = base_config(tmp_path, **{**MOBILENET, "data": {"path": "d", "image_size": [64, 96]}})
    assert laid(wide, side=48).data.image_size == (48, 72)  # the shorter side, aspect kept
    decayed = laid(base, weight_decay=0.02)
    assert (decayed.optimizer.name, decayed.optimizer.weight_decay) == ("adamw", 0.02)
    assert laid(base, weight_decay=0.0).optimizer.name == "adam"
    warm = laid(base, schedule="cosine_warmup").optimizer.schedule
    assert (warm.name, warm.warmup_epochs) == ("cosine", 1.0)
    sparse = base_config(tmp_path)  # the dnn default: sparse cross-entropy
    smoothed = laid(sparse, **{"loss.label_smoothing": 0.1})
    assert (smoothed.loss.name, smoothed.loss.label_smoothing) == ("categorical_crossentropy", 0.1)
    assert laid(sparse, **{"loss.label_smoothing": 0.0}).loss == sparse.loss


def test_the_time_plan_keeps_time_for_the_end_and_caps_each_trial():
    plan = plan_time(900.0, started=100.0, at=130.0)
    assert plan.final_seconds == 45.0  # 5% of the duration
    assert plan.trials_end == 100.0 + 900.0 - 45.0
    assert plan.trial_seconds == 58.9  # (955 - 130) / (10 trials + a full run of 4)
    assert plan.expected_seconds > plan.trial_seconds
    short = plan_time(120.0, started=0.0, at=10.0)
    assert short.trial_seconds == 20.0 and short.final_seconds == 20.0
    capped = plan_time(900.0, started=0.0, at=10.0, base_minutes=0.5)
    assert capped.trial_seconds == 30.0  # --minutes: the base budget caps every trial
    with pytest.raises(SearchTooShort, match="--search: 60 s leave"):
        plan_time(60.0, started=0.0, at=30.0)


def kept(trial: int, score: float) -> quick.Kept:
    return quick.Kept(trial, score, config=None, fitted=None, seconds=10.0)


def test_a_trial_replaces_the_base_only_beyond_the_noise_of_the_validation_set():
    base = kept(0, 0.97)
    # one standard error of the difference of two accuracies near 0.97 on 450 images: 0.0114
    assert quick.noise_margin(0.97, 450) == pytest.approx(math.sqrt(2 * 0.97 * 0.03 / 450))
    assert quick.choose(kept(3, 0.98), base, 450) is base  # +1 point: within the noise
    assert quick.choose(kept(3, 0.985), base, 450).trial == 3  # +1.5 points: beyond it
    assert quick.choose(kept(3, 0.98), base, 100_000).trial == 3  # a large set resolves it
    assert quick.choose(kept(3, 0.98), None, 450).trial == 3  # no base to keep
    assert quick.choose(None, None, 450) is None


def test_the_fidelity_is_the_share_of_its_steps_trial_0_trained_before_its_cap():
    fidelity = quick.Fidelity(minutes=1.0)
    fidelity.measure([{"steps": 750, "stopped": "time"}], base_steps=3000, cap=60.0)
    assert fidelity.share == 0.25 and fidelity.minutes == 3.0  # later trials: 3x trial 0's cap
    raw = {"steps": 1000, "fine_tune": {"layers": 10, "epochs": 3}, "optimizer": {}}
    fidelity(raw, {"optimizer.learning_rate": 0.01})
    assert raw["steps"] == 250 and raw["fine_tune"]["epochs"] == 1 and raw["minutes"] == 3.0
    assert fidelity.refit_seconds(kept(2, 0.9)) == 40.0  # its trial's 10 s for a quarter
    whole = quick.Fidelity(minutes=1.0)  # trial 0 trained all its steps: every trial does
    whole.measure([{"steps": 3000, "stopped": "steps"}], base_steps=3000, cap=60.0)
    assert whole.share == 1.0
    failed = quick.Fidelity(minutes=1.0)  # trial 0 trained nothing: trials keep the time cap
    failed.measure([], base_steps=3000, cap=60.0)
    assert failed.share == 1.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_stops_starting_trials_when_the_next_one_cannot_end_in_time(tmp_path):
    """Trials of 10, 20, 10, 10... seconds before a deadline at 60: the second raises the
    expected length to 20, so trials start at 0, 10, 30 and 40 (40 + 20 = 60 still fits), and
    none at 50."""
    clock, lengths = FakeClock(), iter([10.0, 20.0, 10.0, 10.0, 10.0, 10.0])

    def evaluate(config, reporter):
        clock.now += next(lengths)
        return Evaluation(config.optimizer.learning_rate, [config.optimizer.learning_rate])

    settings = TuneSettings(
        space={"optimizer.learning_rate": Choices(choices=[0.1, 0.2])},
        output_dir=tmp_path,
    )
    raw = {"data": {"path": "unused"}}
    tune = TuneConfig(settings, raw, parse_config(raw), "test", tmp_path)
    handle = open_study(tune)
    deadline = Deadline(at=60.0, trial_seconds=10.0, clock=clock)
    assert work(handle, tune, evaluate, deadline=deadline) == 4
    assert [start for start, _, _, _ in deadline.runs] == [0.0, 10.0, 30.0, 40.0]
    assert [expected for _, expected, _, _ in deadline.runs] == [10.0, 10.0, 20.0, 20.0]
    states = [t.state for t in handle.study.get_trials()]
    assert states == [TrialState.COMPLETE] * 4  # no ticket left waiting


@pytest.fixture
def fast_clock(monkeypatch):
    start = time.monotonic()
    monkeypatch.setattr(quick, "now", lambda: start + (time.monotonic() - start) * SPEED)


def check_deadline_logic(record: dict, at_least: int = 1) -> None:
    """Every trial started when it could end in time, and after the last one there was no time
    for another."""
    trials = record["trials"]
    assert len(trials) >= at_least
    for trial in trials:
        assert trial["started_s"] + trial["expected_s"] <= trial["deadline_s"]
        assert trial["state"] in ("COMPLETE", "PRUNED", "FAIL")
    assert trials[-1]["ended_s"] + record["next_expected_s"] > record["trials_end_s"]
    assert [t["trial"] for t in trials] == list(range(len(trials)))


@pytest.fixture(scope="module")
def searched(quadrants, tmp_path_factory):
    """`--search 2m` on the quadrants, from the recipe with a tiny dnn laid over it and a budget
    of steps that no trial of a few seconds trains in full: the trials train a share of it and
    the chosen one is trained again at its full budget. The clock runs SEARCHED_SPEED times the
    wall's: trial 0's 20 s cap is 4 s, time for some steps beyond building the model."""
    output = tmp_path_factory.mktemp("search")
    start = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        fast = SEARCHED_SPEED
        patch.setattr(quick, "now", lambda: start + (time.monotonic() - start) * fast)
        status = main(
            [
                "train",
                "--data",
                str(quadrants),
                "--search",
                "2m",
                "--steps",
                str(SEARCHED_STEPS),
                "--set",
                "architecture=dnn",
                "--set",
                "architecture_options={filters: 8, dense_units: 16}",
                "--output",
                str(output / "runs"),
                "--quiet",
            ]
        )
    (folder,) = (output / "runs").iterdir()
    return status, folder, output


def test_a_search_runs_trials_until_its_time_is_spent(searched):
    status, folder, _ = searched
    assert status == 0
    record = json.loads((folder / "search.json").read_text())
    # How many trials fit depends on the machine's speed (the clock runs SPEED times real time):
    # on a loaded box one trial of 16 steps took 43 s, the whole budget; what must hold whatever
    # the speed is that each trial started when it could end in time, and no more fitted after.
    check_deadline_logic(record, at_least=1)
    base = record["trials"][0]
    assert base["params"] == record["base"]  # trial 0 is the base config
    assert base["params"]["steps"] == SEARCHED_STEPS and base["params"]["side"] == 32
    assert record["best_score"] >= record["base_score"]
    assert record["gain"] == pytest.approx(record["best_score"] - record["base_score"])
    assert set(base) >= {"trial", "params", "val_accuracy", "state", "seconds", "phases"}


def test_trial_0_measures_the_share_of_its_budget_the_trials_train(searched):
    _, folder, _ = searched
    record = json.loads((folder / "search.json").read_text())
    (first,) = record["trials"][0]["phases"]
    assert first["stopped"] == "time"  # its cap came before its 5,000 steps...
    assert record["fidelity"] == pytest.approx(first["steps"] / SEARCHED_STEPS)  # ...the share
    assert record["fidelity"] < 1.0
    # time was kept back for the full run: the deadline for starting trials moved before the plan's
    assert record["trials_end_s"] < record["trials"][0]["deadline_s"]


def test_the_chosen_trial_is_trained_again_at_its_full_budget(searched):
    _, folder, _ = searched
    record = json.loads((folder / "search.json").read_text())
    chosen = record["trials"][record["chosen_trial"]]
    assert record["final"]["trial"] == chosen["trial"]
    config = load_config(folder / "config.yaml")
    (phase,) = record["final"]["phases"]
    if record["final"]["refit"]:
        assert config.steps == chosen["params"]["steps"]  # the full budget, not the trial's share
        assert phase["steps"] > chosen["phases"][0]["steps"]
        assert config.minutes * 60 < record["duration_s"]  # in the time left for it
    else:  # a loaded box: the trials left no more time than the chosen one took
        assert record["final"]["seconds_left"] <= record["final"]["trial_seconds"]
        assert [phase] == chosen["phases"]  # its trial's own model is the run


def test_the_search_writes_a_run_folder_like_any_other(searched):
    _, folder, output = searched
    record = json.loads((folder / "search.json").read_text())
    config = load_config(folder / "config.yaml")
    chosen = record["trials"][record["chosen_trial"]]
    assert config.steps == chosen["params"]["steps"]
    report = json.loads((folder / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(record["final"]["val_accuracy"], abs=1e-6)
    assert report["training"]["phases"] == record["final"]["phases"]
    assert {b["name"] for b in report["baselines"]} >= {"RBF SVM (HOG)"}
    rows = (folder / "search" / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + len(record["trials"])
    onnx = output / "search.onnx"
    export(folder, onnx)
    assert onnx.stat().st_size > 1000


def test_a_search_from_a_config_file_scales_around_its_minutes(quadrants, tmp_path, fast_clock):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_raw(quadrants, tmp_path / "runs")))
    status = main(
        ["train", "--config", str(config), "--search", "4m", "--minutes", "0.02", "--quiet"]
    )
    assert status == 0
    (folder,) = (tmp_path / "runs").iterdir()
    record = json.loads((folder / "search.json").read_text())
    assert record["trial_cap_s"] == pytest.approx(1.2)  # --minutes 0.02 caps every trial
    assert "steps" not in record["space"]  # a budget of minutes alone: no steps to scale
    assert "architecture_options.filters" in record["space"]
    check_deadline_logic(record)
    assert math.isclose(load_config(folder / "config.yaml").minutes, 0.02)
    # the cap is the whole budget: every trial trains all of it, the chosen one is written as is
    assert record["fidelity"] == 1.0 and not record["final"]["refit"]


def test_a_bad_set_key_under_search_fails_before_any_trial(quadrants, tmp_path, capsys):
    output = tmp_path / "runs"
    status = main(
        ["train", "--data", str(quadrants), "--search", "2m", "--set", "optimizr.name=sgd"]
        + ["--output", str(output)]
    )
    assert status == exitcodes.USAGE
    assert "did you mean 'optimizer'" in capsys.readouterr().err
    assert not output.exists()
