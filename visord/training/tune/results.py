"""The trials table: one row per trial, as CSV and as printed text.

Owns the columns (trial, state, score, per-fold scores, duration in seconds,
one column per searched key, the reason a trial was pruned or failed, the
host that ran it) and their formatting. Queued tickets not yet started are
not trials yet and have no row.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from visord.training.tune.queue import HOST, REASON, params_of

FIXED = ("trial", "state", "score", "folds", "duration_s")
TAIL = ("reason", "host")
PRINTED_REASON = 60


def columns(space_keys: list[str]) -> list[str]:
    return [*FIXED, *space_keys, *TAIL]


def _duration(trial: FrozenTrial) -> float | None:
    return round(trial.duration.total_seconds(), 3) if trial.duration else None


def row_of(trial: FrozenTrial, space_keys: list[str]) -> dict[str, Any]:
    params = params_of(trial)
    row = {
        "trial": trial.number,
        "state": trial.state.name,
        "score": trial.value,
        "folds": " ".join(f"{v:.6g}" for v in trial.user_attrs.get("folds", [])),
        "duration_s": _duration(trial),
    }
    row.update({key: params.get(key) for key in space_keys})
    row.update({"reason": trial.user_attrs.get(REASON, ""), "host": trial.user_attrs.get(HOST, "")})
    return row


def trial_rows(study: optuna.Study, space_keys: list[str]) -> list[dict[str, Any]]:
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    return [row_of(trial, space_keys) for trial in trials]


def write_csv(rows: list[dict[str, Any]], space_keys: list[str], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(space_keys))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "score" or isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= PRINTED_REASON else text[: PRINTED_REASON - 3] + "..."


def format_table(rows: list[dict[str, Any]], space_keys: list[str], compact: bool = False) -> str:
    """A fixed-width table (the host column left out; it is in the CSV). `compact` heads each
    parameter's column with its key's last part and leaves out the folds (a hold-out search has
    one: the score)."""
    left_out = ("host", "folds") if compact else ("host",)
    keys = [k for k in columns(space_keys) if k not in left_out]
    titles = [k.rpartition(".")[2] if compact else k for k in keys]
    cells = [[_cell(k, row[k]) for k in keys] for row in rows]
    widths = [max(len(t), *(len(r[i]) for r in cells)) for i, t in enumerate(titles)]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)
