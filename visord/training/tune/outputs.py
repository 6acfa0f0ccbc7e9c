"""What a search leaves in its study folder, and the summary it prints.

Owns the folder's files after every run (first or resumed, on any worker's
machine): `trials.csv`, `plots/*.png`, `best.yaml`, and `tune.yaml` (the tune
settings as resolved, for the record).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.trial import FrozenTrial

from visord.training.tune.best import write_best
from visord.training.tune.plots import write_plots
from visord.training.tune.results import format_table, trial_rows, write_csv
from visord.training.tune.settings import TuneConfig


@dataclass
class Outputs:
    table: str
    csv: Path
    plots: dict[str, str]
    best: FrozenTrial | None
    best_path: Path
    states: Counter


def write_outputs(study: optuna.Study, tune: TuneConfig) -> Outputs:
    folder, keys = tune.output_dir, list(tune.settings.space)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tune.yaml").write_text(
        yaml.safe_dump(tune.settings.model_dump(mode="json"), sort_keys=False)
    )
    rows = trial_rows(study, keys)
    write_csv(rows, keys, folder / "trials.csv")
    plots = write_plots(study, folder / "plots", tune.settings.metric)
    best = write_best(study, tune, folder / "best.yaml")
    states = Counter(row["state"] for row in rows)
    return Outputs(
        format_table(rows, keys), folder / "trials.csv", plots, best, folder / "best.yaml", states
    )


def summary(outputs: Outputs, tune: TuneConfig) -> str:
    """What to print after the table."""
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(outputs.states.items()))
    lines = [f"trials: {counts or 'none'}; table: {outputs.csv}"]
    skipped = [f"{name} ({why})" for name, why in outputs.plots.items() if why != "written"]
    lines.append(
        f"plots: {outputs.csv.parent / 'plots'}"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
    )
    if outputs.best is None:
        lines.append("no trial completed: no best configuration (see the reasons in the table)")
    else:
        params = ", ".join(f"{k}={v!r}" for k, v in outputs.best.params.items())
        lines.append(
            f"best: trial {outputs.best.number}, {tune.settings.metric} {outputs.best.value:.4f}: "
            f"{params}"
        )
        lines.append(
            f"best config: {outputs.best_path} (visord train --config {outputs.best_path})"
        )
    return "\n".join(lines)
