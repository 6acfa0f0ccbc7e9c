"""One worker's loop: claim a trial, evaluate it, record the outcome.

Owns what a trial's record holds and how it ends: COMPLETE with its score and
per-fold scores; PRUNED with the fold and epoch it was stopped at; FAIL with
the reason (a bad parameter combination, NaN loss, out of memory, ...) while
the study goes on; and, on Ctrl-C, FAIL marked interrupted (queued again on
resume) before the interrupt goes on up. The evaluator is injected (a
callable `(TrainConfig, Reporter) -> Evaluation`): training for real in
`visord.training.tune.evaluate`, a fake in unit tests. A loop with a
`Deadline` runs trials for as long as the next one can still end before it,
whatever the queue holds (a time-boxed search). TensorFlow-free.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from visord.training.config import TrainConfig
from visord.training.tune.queue import REASON, add_ticket, claim, mark_interrupted
from visord.training.tune.settings import TuneConfig
from visord.training.tune.space import sample, trial_config
from visord.training.tune.study import StudyHandle, open_study

# Intermediate values are reported at step fold * FOLD_STRIDE + epoch, so the median pruner
# compares a trial with others at the same fold and epoch, whatever the number of epochs.
FOLD_STRIDE = 1000
REASON_LENGTH = 500


@dataclass
class Evaluation:
    """A trial's score (mean over folds), each fold's score, and other per-fold metrics by name."""

    score: float
    folds: list[float]
    details: dict[str, list[float]] = field(default_factory=dict)


class Reporter:
    """Takes a trial's per-epoch validation scores; raises TrialPruned when the pruner says stop."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def __call__(self, fold: int, epoch: int, value: float) -> None:
        self.trial.report(value, fold * FOLD_STRIDE + min(epoch, FOLD_STRIDE - 1))
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at fold {fold + 1}, epoch {epoch + 1}: "
                f"{self.metric} {value:.4f} worse than the median of earlier trials"
            )


Evaluator = Callable[[TrainConfig, Reporter], Evaluation]
EvaluatorFactory = Callable[[TuneConfig], Evaluator]
REAL_EVALUATOR = "visord.training.tune.evaluate:evaluator_for"


def load_factory(reference: str) -> EvaluatorFactory:
    """`module:function` -> the function (a reference, so it can travel to spawned processes)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"[:REASON_LENGTH]


def _complete(study: optuna.Study, trial: optuna.Trial, result: Evaluation) -> TrialState:
    trial.set_user_attr("folds", result.folds)
    for name, values in result.details.items():
        trial.set_user_attr(f"folds_{name}", values)
    if not math.isfinite(result.score):
        trial.set_user_attr(REASON, f"score is {result.score}")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    study.tell(trial, result.score)
    return TrialState.COMPLETE


def _end(study: optuna.Study, trial: optuna.Trial, state: TrialState, reason: str) -> TrialState:
    trial.set_user_attr(REASON, reason)
    study.tell(trial, state=state)
    return state


def run_trial(
    handle: StudyHandle, trial: optuna.Trial, tune: TuneConfig, evaluate: Evaluator
) -> TrialState:
    """Evaluates one claimed trial and records how it ended; only an interrupt escapes."""
    try:
        params = sample(trial, tune.settings.space)
        config = trial_config(tune.base_raw, params, f"trial {trial.number}", tune.expand)
        result = evaluate(config, Reporter(trial, tune.settings.metric))
    except optuna.TrialPruned as pruned:
        return _end(handle.study, trial, TrialState.PRUNED, str(pruned))
    except KeyboardInterrupt:
        mark_interrupted(handle, trial.number, "interrupted: stopped by the user")
        raise
    except Exception as error:  # the study goes on; the reason is in the table
        return _end(handle.study, trial, TrialState.FAIL, _reason(error))
    return _complete(handle.study, trial, result)


@dataclass
class Deadline:
    """A time box for a worker loop: a trial starts only when it can end by `at` (on `clock`).

    `trial_seconds` is the longest a trial is expected to take: the caller's estimate at first,
    raised to the longest trial seen. The caller may move `at` between trials (a search that
    keeps time back for a last run). `runs` records each trial's (start, expected seconds at its
    start, end, `at` at its start), so a search can show why it stopped starting trials.
    """

    at: float
    trial_seconds: float
    clock: Callable[[], float] = time.monotonic
    runs: list[tuple[float, float, float, float]] = field(default_factory=list)

    def allows_another(self) -> bool:
        return self.clock() + self.trial_seconds <= self.at

    def record(self, started: float, at: float) -> None:
        """A trial that started at `started`, when the deadline was `at`, has just ended."""
        ended = self.clock()
        self.runs.append((started, self.trial_seconds, ended, at))
        self.trial_seconds = max(self.trial_seconds, ended - started)


def _next_trial(handle: StudyHandle, deadline: Deadline | None) -> optuna.Trial | None:
    """The next claimed trial: from the queue; with a deadline, only while another trial fits,
    and from a ticket added on the spot when the queue is empty (the time is the budget)."""
    if deadline is None:
        return claim(handle)
    if not deadline.allows_another():
        return None
    trial = claim(handle)
    if trial is None:
        add_ticket(handle)
        trial = claim(handle)
    return trial


def work(
    handle: StudyHandle,
    tune: TuneConfig,
    evaluate: Evaluator,
    on_trial_end: Callable[[], None] | None = None,
    deadline: Deadline | None = None,
) -> int:
    """Runs trials until the queue is empty, or with a `deadline` until the next trial could not
    end before it; returns how many this worker ran."""
    count = 0
    while (trial := _next_trial(handle, deadline)) is not None:
        started, at = (deadline.clock(), deadline.at) if deadline else (0.0, 0.0)
        run_trial(handle, trial, tune, evaluate)
        if deadline:
            deadline.record(started, at)
        count += 1
        if on_trial_end:
            on_trial_end()
    return count


@dataclass(frozen=True)
class WorkerJob:
    """Everything a spawned worker process needs (picklable)."""

    tune: TuneConfig
    index: int
    evaluator: str = REAL_EVALUATOR


def worker_main(job: WorkerJob) -> None:
    """Entry point of a worker process."""
    from visord.training import import_tensorflow

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if job.evaluator == REAL_EVALUATOR:  # it trains with TensorFlow: load it without its banner
        import_tensorflow()
    evaluate = load_factory(job.evaluator)(job.tune)
    try:
        work(open_study(job.tune, job.index), job.tune, evaluate)
    except KeyboardInterrupt:
        pass  # the running trial is recorded as interrupted; the parent reports
