"""The study's trial queue: one ticket per trial of the budget, claimed atomically.

Owns why a search runs exactly its budget, never the same grid point twice,
whatever the number of workers and machines: before work starts, the queue
is topped up with WAITING trials (Optuna's enqueued trials) until the study
holds `budget` live trials (a grid ticket carries its combination; a random
or TPE ticket carries nothing and is sampled when it runs). A worker claims
a ticket by moving it WAITING -> RUNNING in the storage, which only one
process can win, and stops when no ticket is left. A search bounded by time
instead (`visord train --search`: a worker loop with a deadline) adds one
ticket at a time, for as long as another trial can still end in time.

A trial whose worker died (killed, machine lost power) stays RUNNING in the
storage: a later run on the same host sees that its process is gone, records
it as failed ("interrupted"), and tops the queue up again, so a resumed study
re-runs only what was not finished.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from visord.training.tune.params import grid
from visord.training.tune.settings import TuneConfig
from visord.training.tune.study import StudyHandle

REASON, INTERRUPTED, HOST, PID = "reason", "interrupted", "host", "pid"
# "host:pid" of the worker about to claim a ticket: names the claimant of a ticket whose worker
# died between winning it and recording itself
CLAIMING = "claiming"


def trial_id(handle: StudyHandle, number: int) -> int:
    return handle.storage.get_trial_id_from_study_id_trial_number(handle.study_id, number)


def params_of(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's parameters: suggested, or fixed by its ticket when it failed before
    suggesting."""
    return trial.params or dict(trial.system_attrs.get("fixed_params") or {})


def live_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count against the budget: all but interrupted ones."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(INTERRUPTED)]


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _grid_tickets(live: list[FrozenTrial], tune: TuneConfig, missing: int) -> list[dict[str, Any]]:
    taken = {_key(params_of(t)) for t in live}
    return [combo for combo in grid(tune.settings.space) if _key(combo) not in taken][:missing]


def top_up(handle: StudyHandle, tune: TuneConfig) -> int:
    """Queues tickets until the study holds `tune.budget` live trials; returns how many were
    added."""
    live = live_trials(handle.study)
    missing = tune.budget - len(live)
    if missing <= 0:
        return 0
    tickets = (
        _grid_tickets(live, tune, missing)
        if tune.settings.sampler.name == "grid"
        else [{}] * missing
    )
    for params in tickets:
        add_ticket(handle, params)
    return len(tickets)


def add_ticket(handle: StudyHandle, params: dict[str, Any] | None = None) -> None:
    """Queues one ticket: with `params` fixed (a grid point, a known configuration to try
    first), or empty (the sampler picks its parameters when it runs)."""
    handle.study.enqueue_trial(params or {})


def claim(handle: StudyHandle) -> optuna.Trial | None:
    """The next ticket, now RUNNING and this process's; None when the queue is empty."""
    for waiting in handle.storage.get_all_trials(
        handle.study_id, deepcopy=False, states=(TrialState.WAITING,)
    ):
        tid = trial_id(handle, waiting.number)
        try:
            claimant = f"{socket.gethostname()}:{os.getpid()}"
            handle.storage.set_trial_user_attr(tid, CLAIMING, claimant)
            if not handle.storage.set_trial_state_values(tid, state=TrialState.RUNNING):
                continue  # another worker won it
        except UpdateFinishedTrialError:
            continue
        trial = optuna.Trial(handle.study, tid)
        trial.set_user_attr(HOST, socket.gethostname())
        trial.set_user_attr(PID, os.getpid())
        return trial
    return None


def mark_interrupted(handle: StudyHandle, number: int, reason: str) -> None:
    """Records a trial as failed by interruption: it will be queued again on resume."""
    tid = trial_id(handle, number)
    handle.storage.set_trial_user_attr(tid, REASON, reason)
    handle.storage.set_trial_user_attr(tid, INTERRUPTED, True)
    handle.study.tell(number, state=TrialState.FAIL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fail_abandoned(handle: StudyHandle) -> list[int]:
    """RUNNING trials of this host whose process is gone, now failed as interrupted."""
    host, found = socket.gethostname(), []
    for trial in handle.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner, pid = trial.user_attrs.get(HOST), trial.user_attrs.get(PID)
        if pid is None:  # killed between winning the ticket and recording itself
            owner, _, claimant = str(trial.user_attrs.get(CLAIMING, "")).rpartition(":")
            pid = int(claimant) if claimant.isdigit() else None
        if owner == host and pid is not None and not _alive(pid):
            reason = f"interrupted: worker process {pid} on {host} ended during the trial"
            mark_interrupted(handle, trial.number, reason)
            found.append(trial.number)
    return found
