"""Running a search's workers: in this process, or as N local processes, with its progress.

Owns the order of a run: open (or create) the study, fail this host's
abandoned trials, top the queue up to the budget, then work through it.
With `workers > 1` the workers are spawned processes (never forked: a forked
TensorFlow runtime deadlocks), each opening the same storage; this process
watches the storage and reports progress: a bar on a terminal, one line per
finished trial elsewhere (a bar's carriage returns make a log unreadable), or
nothing. Ctrl-C stops every worker; each records its running trial as
interrupted so a rerun resumes.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Literal

from optuna.trial import TrialState
from tqdm import tqdm

from visord.training.tune.queue import fail_abandoned, live_trials, top_up
from visord.training.tune.settings import TuneConfig
from visord.training.tune.study import StudyHandle, open_study
from visord.training.tune.worker import REAL_EVALUATOR, WorkerJob, load_factory, work, worker_main

POLL_SECONDS = 1.0
Show = Literal["bar", "lines"] | None


@dataclass
class Prepared:
    """An open study, ready to work on."""

    handle: StudyHandle
    abandoned: list[int]
    queued: int


class Progress:
    """The study's progress over its budget: finished trials, and the best score so far; as a bar,
    as one printed line per finished trial, or not shown (`show` None)."""

    def __init__(self, handle: StudyHandle, total: int, show: Show) -> None:
        self.handle, self.total, self.show = handle, total, show
        self.reported = self._finished()
        self.bar = tqdm(
            total=total, initial=self.reported, unit="trial", disable=show != "bar", desc="tune"
        )

    def _finished(self) -> int:
        return sum(t.state.is_finished() for t in live_trials(self.handle.study))

    def _best(self) -> float | None:
        complete = self.handle.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self.handle.study.best_value if complete else None

    def refresh(self) -> None:
        finished = self._finished()
        if finished == self.reported:
            return
        self.reported = finished
        best = self._best()
        if self.show == "bar":
            self.bar.update(finished - self.bar.n)
            if best is not None:
                self.bar.set_postfix(best=f"{best:.4f}")
        elif self.show == "lines":
            score = f", best {best:.4f}" if best is not None else ""
            print(f"tune: {finished}/{self.total} trials finished{score}", flush=True)

    def close(self) -> None:
        self.refresh()
        self.bar.close()


def prepare(tune: TuneConfig) -> Prepared:
    handle = open_study(tune)
    abandoned = fail_abandoned(handle)
    return Prepared(handle, abandoned, top_up(handle, tune))


def _spawn(tune: TuneConfig, workers: int, evaluator: str) -> list[multiprocessing.Process]:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=worker_main,
            args=(WorkerJob(tune, index, evaluator),),
            name=f"visord-tune-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    return processes


def _watch(processes: list[multiprocessing.Process], progress: Progress) -> list[int]:
    try:
        while any(p.is_alive() for p in processes):
            for process in processes:
                process.join(POLL_SECONDS / len(processes))
            progress.refresh()
    except KeyboardInterrupt:  # the workers got the same SIGINT: let them record their trials
        for process in processes:
            process.join()
        raise
    return [p.exitcode for p in processes]


def run_workers(
    tune: TuneConfig, handle: StudyHandle, workers: int, evaluator: str, progress: Progress
) -> list[int]:
    """Works through the queue; the exit status of each worker process (none when in-process)."""
    if workers == 1:
        work(handle, tune, load_factory(evaluator)(tune), on_trial_end=progress.refresh)
        return []
    return _watch(_spawn(tune, workers, evaluator), progress)


def run_search(
    tune: TuneConfig, workers: int = 1, evaluator: str = REAL_EVALUATOR, show: Show = None
) -> Prepared:
    """Creates or resumes the study and runs its queued trials to the end, showing progress as
    `show` says."""
    prepared = prepare(tune)
    progress = Progress(prepared.handle, tune.budget, show)
    try:
        failed = [
            code
            for code in run_workers(tune, prepared.handle, workers, evaluator, progress)
            if code
        ]
    finally:
        progress.close()
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {workers} worker processes failed (exit status {failed}); see "
            "their errors above"
        )
    return prepared
