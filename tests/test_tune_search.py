"""The search machinery with a fake evaluator (no training): samplers, queue, resume, workers,
storage, folds.

The fake scores a trial from its config in microseconds, so these tests check the study's
bookkeeping: repeatable seeds, exact budgets without duplicates across processes, resuming after a
kill, failures recorded with their reason. Training for real is in test_tune_train.py.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from visord.testing.wait import wait_for
from visord.training.config import TrainingConfigError
from visord.training.tune.folds import fold_of_each, stratified_folds
from visord.training.tune.launch import prepare, run_search
from visord.training.tune.load import load_tune_config
from visord.training.tune.queue import CLAIMING, params_of, trial_id
from visord.training.tune.study import open_study
from visord.training.tune.worker import Evaluation

FAKE = "tests.test_tune_search:fake_evaluator"
SLOW_FAKE = "tests.test_tune_search:slow_fake_evaluator"
BARRIER_FAKE = "tests.test_tune_search:barrier_fake_evaluator"
TRAIN = {"name": "fake", "data": {"path": "unused"}, "epochs": 2}
SPACE = {
    "optimizer.learning_rate": {"low": 1.0e-5, "high": 1.0, "log": True},
    "batch_size": [8, 16, 32, 64],
    "architecture_options.dropout": {"low": 0.0, "high": 0.5},
}


def fake_score(config) -> float:
    """Best at learning rate 1e-2 and batch size 16; raises for batch size 64 (a 'bad
    combination')."""
    if config.batch_size == 64:
        raise ValueError("batch size 64 does not fit in memory (fake)")
    return (
        -((math.log10(config.optimizer.learning_rate) + 2) ** 2) - abs(config.batch_size - 16) / 16
    )


def fake_evaluator(tune):
    def evaluate(config, reporter):
        for epoch in range(config.epochs):
            reporter(0, epoch, fake_score(config))
        return Evaluation(fake_score(config), [fake_score(config)])

    return evaluate


def slow_fake_evaluator(tune):
    fast = fake_evaluator(tune)

    def evaluate(config, reporter):
        time.sleep(float(os.environ.get("FAKE_SECONDS", "0.3")))
        return fast(config, reporter)

    return evaluate


def barrier_fake_evaluator(tune):
    """Each worker holds its first trial until every worker has claimed one: all of them surely take
    part."""
    fast, folder = fake_evaluator(tune), Path(os.environ["FAKE_BARRIER"])

    def evaluate(config, reporter):
        (folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while (
            len(list(folder.iterdir())) < int(os.environ["FAKE_WORKERS"])
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        return fast(config, reporter)

    return evaluate


def write_tune(folder: Path, **changes) -> Path:
    raw = {
        "name": "s",
        "train": TRAIN,
        "space": SPACE,
        "sampler": {"name": "tpe", "seed": 7, "startup_trials": 3},
        "trials": 8,
        "metric": "val_accuracy",
        "pruning": {"enabled": False},
        "output_dir": str(folder / "out"),
    }
    raw.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tune.yaml").write_text(yaml.safe_dump(raw))
    return folder / "tune.yaml"


def search(folder: Path, evaluator: str = FAKE, workers: int = 1, **changes) -> optuna.Study:
    tune = load_tune_config(write_tune(folder, **changes))
    return run_search(tune, workers=workers, evaluator=evaluator).handle.study


def params_sequence(study: optuna.Study) -> list[dict]:
    return [t.params for t in study.get_trials()]


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_seed_repeats_the_same_parameters(tmp_path, sampler):
    settings = {"name": sampler, "seed": 7, "startup_trials": 3}
    first = params_sequence(search(tmp_path / "a", sampler=settings))
    second = params_sequence(search(tmp_path / "b", sampler=settings))
    other = params_sequence(search(tmp_path / "c", sampler={**settings, "seed": 8}))
    assert len(first) == 8 and first == second
    assert first != other


def test_tpe_moves_towards_the_best_region(tmp_path):
    study = search(
        tmp_path,
        trials=30,
        sampler={"name": "tpe", "seed": 3, "startup_trials": 8},
        metric="val_accuracy",
    )
    rates = [abs(math.log10(t.params["optimizer.learning_rate"]) + 2) for t in study.trials]
    # model-based trials sit nearer 1e-2 than random ones
    assert np.mean(rates[-10:]) < np.mean(rates[:8])


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path):
    study = search(
        tmp_path,
        sampler={"name": "grid"},
        space={"batch_size": [64, 16, 32]},
        train={**TRAIN, "optimizer": {"learning_rate": 0.01}},
    )
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert (
        study.trials[0].user_attrs["reason"]
        == "ValueError: batch size 64 does not fit in memory (fake)"
    )
    assert study.best_trial.params == {"batch_size": 16}


def test_pruning_stops_trials_below_the_median(tmp_path):
    pruning = {"enabled": True, "startup_trials": 2, "warmup_epochs": 0}
    study = search(
        tmp_path,
        sampler={"name": "grid"},
        metric="val_accuracy",
        pruning=pruning,
        space={"optimizer.learning_rate": [0.01, 0.001, 1.0e-5]},
        train={**TRAIN, "batch_size": 16},
    )
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert (
        study.trials[2]
        .user_attrs["reason"]
        .startswith("pruned at fold 1, epoch 1: val_accuracy -9.0000 worse than the median")
    )


def test_grid_runs_every_combination_once_and_rerunning_adds_nothing(tmp_path):
    space = {"batch_size": [8, 16], "optimizer.learning_rate": [0.01, 0.1]}
    study = search(tmp_path, sampler={"name": "grid"}, space=space)
    combos = sorted(
        (t.params["batch_size"], t.params["optimizer.learning_rate"]) for t in study.trials
    )
    assert combos == [(8, 0.01), (8, 0.1), (16, 0.01), (16, 0.1)]
    again = search(tmp_path, sampler={"name": "grid"}, space=space)
    assert len(again.trials) == 4


def test_resuming_with_a_larger_budget_continues_the_study(tmp_path):
    first = search(tmp_path, trials=3)
    started = [t.datetime_start for t in first.trials]
    study = search(tmp_path, trials=5)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert [t.datetime_start for t in study.trials[:3]] == started  # not re-run
    assert all(t.state == TrialState.COMPLETE or t.params["batch_size"] == 64 for t in study.trials)


def test_a_study_refuses_a_different_search_under_its_name(tmp_path):
    search(tmp_path, trials=2)
    with pytest.raises(TrainingConfigError, match="study 's' in .* was made by a different search"):
        search(tmp_path, trials=2, space={"batch_size": [8, 16]})


def test_ctrl_c_marks_the_trial_interrupted_and_a_rerun_redoes_it(tmp_path, monkeypatch):
    from visord.training.tune import launch

    calls = {"n": 0}

    def interrupting(config, reporter):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return Evaluation(1.0, [1.0])

    monkeypatch.setattr(launch, "load_factory", lambda reference: lambda tune: interrupting)
    space = {"batch_size": [8, 16, 32]}
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, sampler={"name": "grid"}, space=space)
    study = search(tmp_path, sampler={"name": "grid"}, space=space)
    states = [
        (t.params["batch_size"], t.state.name, t.user_attrs.get("interrupted", False))
        for t in study.trials
    ]
    assert states == [
        (8, "COMPLETE", False),
        (16, "FAIL", True),
        (32, "COMPLETE", False),
        (16, "COMPLETE", False),
    ]


def test_a_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    path = write_tune(
        tmp_path,
        sampler={"name": "grid"},
        space={"batch_size": [8, 16, 32], "optimizer.learning_rate": [0.01, 0.1]},
    )
    script = (
        "from visord.training.tune.launch import run_search; from visord.training.tune.load "
        "import load_tune_config; "
        f"run_search(load_tune_config({str(path)!r}), evaluator={SLOW_FAKE!r})"
    )
    env = {**os.environ, "FAKE_SECONDS": "0.4"}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=Path.cwd())
    tune = load_tune_config(path)
    try:
        wait_for(lambda: _complete(tune, 2), timeout=60, what="two trials complete")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = {
        t.number: t.datetime_complete
        for t in open_study(tune).study.trials
        if t.state == TrialState.COMPLETE
    }
    assert 2 <= len(before) < 6, "the search was not killed mid-way"
    study = run_search(tune, evaluator=FAKE).handle.study
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    # kept, not re-run
    assert {t.number: t.datetime_complete for t in done if t.number in before} == before
    assert sorted((t.params["batch_size"], t.params["optimizer.learning_rate"]) for t in done) == [
        (8, 0.01),
        (8, 0.1),
        (16, 0.01),
        (16, 0.1),
        (32, 0.01),
        (32, 0.1),
    ]
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert all(
        t.state == TrialState.FAIL and "ended during the trial" in t.user_attrs["reason"]
        for t in interrupted
    )
    assert len(study.trials) == 6 + len(interrupted)


def test_a_worker_killed_between_winning_a_ticket_and_recording_itself_is_found(tmp_path):
    """The ticket is RUNNING with no pid: the claimant noted before the claim names the dead
    worker, so a resumed search fails it as interrupted and queues its grid point again."""
    tune = load_tune_config(
        write_tune(tmp_path, sampler={"name": "grid"}, space={"batch_size": [8, 16]})
    )
    handle = prepare(tune).handle
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    first = handle.study.get_trials(deepcopy=False)[0]
    tid = trial_id(handle, first.number)
    handle.storage.set_trial_user_attr(
        tid, CLAIMING, f"{socket.gethostname()}:{gone.stdout.strip()}"
    )
    handle.storage.set_trial_state_values(tid, state=TrialState.RUNNING)
    resumed = prepare(tune)
    assert resumed.abandoned == [first.number]
    waiting = resumed.handle.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert sorted(params_of(t)["batch_size"] for t in waiting) == [8, 16]


def _complete(tune, count: int) -> bool:
    if not (tune.output_dir / "journal.log").exists():
        return False
    try:
        return len(open_study(tune).study.get_trials(states=(TrialState.COMPLETE,))) >= count
    except Exception:  # the journal is being created
        return False


@pytest.mark.parametrize("sampler", ["grid", "tpe"])
def test_two_worker_processes_share_one_journal_study_without_duplicates(
    tmp_path, monkeypatch, sampler
):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    monkeypatch.setenv("FAKE_BARRIER", str(barrier))
    monkeypatch.setenv("FAKE_WORKERS", "2")
    space = (
        {"batch_size": [8, 16, 32], "optimizer.learning_rate": [0.01, 0.1]}
        if sampler == "grid"
        else SPACE
    )
    study = search(
        tmp_path,
        evaluator=BARRIER_FAKE,
        workers=2,
        sampler={"name": sampler, "seed": 1},
        space=space,
        trials=6,
    )
    assert len(study.trials) == 6 and all(t.state.is_finished() for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 6
    assert len({t.user_attrs["pid"] for t in study.trials}) == 2
    assert os.getpid() not in {t.user_attrs["pid"] for t in study.trials}


def test_an_rdb_url_works_as_storage(tmp_path):
    study = search(tmp_path, trials=3, storage=f"sqlite:///{tmp_path}/study.db")
    assert len(study.trials) == 3 and (tmp_path / "study.db").exists()
    assert not (tmp_path / "out" / "journal.log").exists()


@pytest.fixture
def postgres():
    from visord.testing.postgres_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


def test_two_workers_share_one_postgresql_study(tmp_path, postgres, monkeypatch):
    """The several-machines path: a real PostgreSQL server as the RDB storage, two worker processes
    on it."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    monkeypatch.setenv("FAKE_BARRIER", str(barrier))
    monkeypatch.setenv("FAKE_WORKERS", "2")
    study = search(tmp_path, evaluator=BARRIER_FAKE, workers=2, trials=6, storage=postgres.url)
    assert len(study.trials) == 6 and all(t.state.is_finished() for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 6
    assert len({t.user_attrs["pid"] for t in study.trials}) == 2
    reopened = optuna.load_study(study_name=study.study_name, storage=postgres.url)
    assert [t.number for t in reopened.trials] == [t.number for t in study.trials]
    assert not (tmp_path / "out" / "journal.log").exists()


def test_an_unreachable_database_is_reported_without_its_password(tmp_path):
    from visord.training.tune.study import StorageError

    with pytest.raises(StorageError) as caught:
        search(tmp_path, storage="postgresql://visord:s3cret@127.0.0.1:9/optuna")
    assert "postgresql://***@127.0.0.1:9/optuna" in str(caught.value) and "s3cret" not in str(
        caught.value
    )


def test_folds_are_disjoint_stratified_and_cover_everything():
    labels = np.repeat([0, 1, 2], [30, 12, 7])
    folds = stratified_folds(labels, 3, seed=0)
    validation = [set(v.tolist()) for _, v in folds]
    assert set().union(*validation) == set(range(len(labels)))
    assert sum(len(v) for v in validation) == len(labels)  # disjoint
    for train, val in folds:
        assert not set(train.tolist()) & set(val.tolist())
        counts = np.bincount(labels[val], minlength=3)
        assert counts[0] == 10 and counts[1] == 4 and counts[2] in (2, 3)
    sizes = sorted(len(v) for _, v in folds)
    assert sizes[-1] - sizes[0] <= 1
    # the seed shuffles
    assert not np.array_equal(fold_of_each(labels, 3, 0), fold_of_each(labels, 3, 1))


def test_folds_refuse_classes_smaller_than_k():
    with pytest.raises(
        ValueError,
        match=r"cv: 4 needs k >= 2 and at least 4 items of every class; "
        r"too few in classes \{1: 3\}",
    ):
        fold_of_each(np.array([0] * 8 + [1] * 3), 4, 0)
