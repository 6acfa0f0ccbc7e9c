"""The best trial as a ready training config, and retraining it as a normal run.

Owns `best.yaml` in the study folder: the base training config with the best
trial's parameters, loadable by `visord train --config` (a comment on top
says which trial, score and folds it came from), and `--retrain-best`, which
trains it into a normal run folder that `visord export` takes.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from visord.training.config import dump_config, load_config
from visord.training.tune.settings import TuneConfig
from visord.training.tune.space import trial_config


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial, or None when no trial completed."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def _header(trial: FrozenTrial, tune: TuneConfig) -> str:
    folds = " ".join(f"{v:.4f}" for v in trial.user_attrs.get("folds", []))
    lines = [
        f"Best trial of study '{tune.settings.name}' ({tune.source}): trial {trial.number}, "
        f"{tune.settings.metric} {trial.value:.4f}"
        + (f" (folds: {folds})" if tune.settings.cv > 1 else ""),
        *(f"  {key} = {value!r}" for key, value in trial.params.items()),
        "Train it: visord train --config THIS_FILE",
    ]
    return "".join(f"# {line}\n" for line in lines)


def write_best(study: optuna.Study, tune: TuneConfig, path: Path) -> FrozenTrial | None:
    """Writes the best trial's training config to `path`; None (nothing written) when no trial
    completed."""
    trial = best_trial(study)
    if trial is None:
        return None
    config = trial_config(tune.base_raw, trial.params, f"best trial {trial.number}", tune.expand)
    path.write_text(_header(trial, tune) + dump_config(config))
    return trial


def retrain(path: Path, verbose: int = 1) -> Path:
    """Trains the config at `path` as `visord train` would; the run folder."""
    from visord.training.train import train

    return train(load_config(path), verbose=verbose).folder
