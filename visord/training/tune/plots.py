"""The search's plots, as PNG files, drawn by Optuna's matplotlib backend.

Owns which plots a study folder gets: the score by trial (with the best so
far), parameter importances, parallel coordinates, a slice plot per
parameter, and the per-epoch intermediate scores (what pruning looked at).
A plot that the study cannot support yet (importances need two complete
trials with different parameters) is skipped with the reason, not fatal.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

# "Using categorical units..." at INFO for every categorical axis: noise in a CLI's output
logging.getLogger("matplotlib.category").setLevel(logging.WARNING)

PLOTS: dict[str, Callable[[optuna.Study], object]] = {
    "score_by_trial.png": optuna_plots.plot_optimization_history,
    "param_importances.png": optuna_plots.plot_param_importances,
    "parallel_coordinate.png": optuna_plots.plot_parallel_coordinate,
    "slice.png": optuna_plots.plot_slice,
    "intermediate_scores.png": optuna_plots.plot_intermediate_values,
}


def _save(axes: object, path: Path) -> None:
    figure = np.ravel(axes)[0].figure
    figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 5))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_plots(study: optuna.Study, folder: Path, target_name: str) -> dict[str, str]:
    """Writes every plot it can into `folder`; file name -> 'written' or why it was skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    outcome = {}
    for name, plot in PLOTS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                kwargs = {} if name == "intermediate_scores.png" else {"target_name": target_name}
                _save(plot(study, **kwargs), folder / name)
                outcome[name] = "written"
            except (ValueError, RuntimeError, IndexError, ZeroDivisionError) as error:
                plt.close("all")
                outcome[name] = f"skipped: {error}"
    return outcome
