"""`visord train --search DURATION`: a time-boxed search of a training config's main knobs.

Owns what the quick search tries and how it spends its time:

- the space, derived from the base config (the recipe, or `--config`, with `--set` laid on) by
  `search_space`: width, input side, learning rate, schedule, weight decay, augmentation strength,
  label smoothing and steps, each with the value that gives the base config back, so that the base
  is trial 0 and the search never returns a model worse than it on validation; `expand` sets a
  trial's knobs into the config's keys;
- the time: `plan_time` keeps a share of the duration for writing the run and caps trial 0 (the
  base config) so that about TARGET_TRIALS trials and one full run fit. What share of the base's
  budget trial 0 trained in that cap is the search's `Fidelity`: every later trial trains that
  share of its own budget (its schedule fitted to it), so trials are compared at one fidelity,
  and the chosen trial is trained again at its full budget in the time kept back for it (its own
  trial's pace, scaled). The worker loop's `Deadline` starts a trial only when it can end before
  that time, so the time, not a number, says how many trials run;
- the choice (`choose`): the best trial replaces the base config only when it beats it by more
  than the noise of the validation set (NOISE_Z standard errors of the difference of two
  accuracies on that many images), so a small validation set does not pick noise;
- running it on the tune machinery (TPE with the config's seed, median pruning on each epoch's
  validation accuracy, the journal, table and plots in the run folder's `search/`), and writing
  the chosen model as a normal run folder through `visord.training.train.write_run`, with
  `search.json` (every trial, the fidelity and the final run) beside it.

Trials are scored on the config's own validation split only (hold-out); no other data is read.
Imports TensorFlow.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import optuna
from optuna.trial import FrozenTrial, TrialState

from visord.training.architectures.registry import ARCHITECTURES, options_of
from visord.training.architectures.transfer import BACKBONES
from visord.training.baselines import Baseline, pixel_side
from visord.training.budget import STOPPED_TIME
from visord.training.config import (
    CROSS_ENTROPY_LOSSES,
    AugmentationConfig,
    TrainConfig,
    parse_config,
    set_key,
)
from visord.training.train import (
    Fitted,
    RunResult,
    create_run_folder,
    fit_on_sets,
    split_baselines,
    steps_per_epoch,
    write_run,
)
from visord.training.tune.evaluate import Split, evaluate_config, splits_for
from visord.training.tune.outputs import write_outputs
from visord.training.tune.params import Choices, Range
from visord.training.tune.queue import REASON, add_ticket, params_of
from visord.training.tune.results import format_table, trial_rows
from visord.training.tune.settings import (
    PruningSettings,
    SamplerSettings,
    TuneConfig,
    TuneSettings,
)
from visord.training.tune.study import open_study
from visord.training.tune.worker import Deadline, Evaluation, Reporter, work

METRIC = "val_accuracy"

# The space. Width: MobileNet's usual widths (MobileNetV2's below 1.0 for transfer); the dnn's
# filters and dense units halved or doubled.
ALPHAS = {"mobilenet": (0.25, 0.5, 0.75, 1.0), "transfer": (0.35, 0.5, 0.75, 1.0)}
WIDTH_FACTORS = (0.5, 1.0, 2.0)
# Input side: the base's, three quarters and half of it (multiples of 8), never under what the
# architecture takes (the schema's 8 pixels for the others).
SIDE_SHARES = (1.0, 0.75, 0.5)
MIN_SIDE = {"mobilenet": 32, "transfer": 32, "squeezenet": 32}
LEARNING_RATE_FACTOR = 4.0  # log-uniform from base / 4 to base x 4
WARMUP_EPOCHS = 1.0  # "cosine_warmup" when the base has no warm-up of its own
# AdamW's decoupled decay (Keras multiplies it by the learning rate); 0 keeps the base optimizer.
WEIGHT_DECAYS = (0.0, 0.004, 0.02, 0.1)
# The augmentation keys one strength scales (flips and fill_mode are left as the base has them).
SCALED = (
    "width_shift_range",
    "height_shift_range",
    "zoom_range",
    "rotation_range",
    "shear_range",
    "brightness",
)
STRENGTH = Range(low=0.0, high=2.0, step=0.25)  # 1 is the base's augmentation
SMOOTHINGS = (0.0, 0.05, 0.1, 0.2)
STEP_FACTORS = (0.5, 1.0, 2.0)  # of the base budget's steps

# The time. The last step (scoring the best model, baselines again if its side changed, writing
# the run folder and the plots) keeps this share of the duration, within these bounds.
FINAL_SHARE, FINAL_MIN_SECONDS, FINAL_MAX_SECONDS = 0.05, 20.0, 120.0
TARGET_TRIALS = 10  # trial 0's training cap is the trials' time over this plus...
REFIT_TRIALS = 4  # ...the full run's, guessed as this many trials until trial 0 measures it...
MIN_TRIAL_SECONDS = 20.0  # ...but not under this, where it fits...
SHORTEST_TRIAL_SECONDS = 5.0  # ...and the search refuses to run shorter ones
SLOW_TRIAL = 3.0  # a later trial's time cap, in trial 0's: a wider or larger trial runs slower
REFIT_MAX_SHARE = 0.6  # the full run keeps at most this share of the trials' time
NOISE_Z = 1.0  # standard errors a trial must beat the base config by to replace it
# Beyond its cap a trial builds its model and scores the validation set: the first estimate of a
# trial's length (raised to the longest trial seen as the search runs).
OVERHEAD_SHARE, OVERHEAD_SECONDS = 0.1, 5.0
PRUNING = PruningSettings(startup_trials=3, warmup_epochs=2)


def now() -> float:
    """The search's clock (tests replace it to run a search's minutes in seconds)."""
    return time.monotonic()


class SearchTooShort(ValueError):
    """The duration leaves no time for a trial; the message says how much more is needed."""


@dataclass(frozen=True)
class Knob:
    """One searched parameter and the value that gives the base config back."""

    param: Choices | Range
    base: Any


def _option(base: TrainConfig, name: str) -> Any:
    """An architecture option's value: the base config's, else the builder's default."""
    builder = ARCHITECTURES.get(base.architecture)
    default = inspect.signature(builder).parameters[name].default
    return base.architecture_options.get(name, default)


def _pretrained(base: TrainConfig) -> bool:
    """Pretrained weights fix the width and the input side they were made for."""
    return base.architecture_options.get("weights") is not None


def _choices(values, base: Any) -> Knob:
    return Knob(Choices(choices=sorted({*values, base})), base)


def _width(base: TrainConfig, options: list[str]) -> dict[str, Knob]:
    if "alpha" in options:
        takes_alpha = base.architecture != "transfer" or (
            BACKBONES[_option(base, "backbone")].takes_alpha
        )
        if _pretrained(base) or not takes_alpha or base.architecture not in ALPHAS:
            return {}
        return {
            "architecture_options.alpha": _choices(
                ALPHAS[base.architecture], _option(base, "alpha")
            )
        }
    knobs = {}
    for name in ("filters", "dense_units"):
        if name in options:
            value = _option(base, name)
            multiples = {max(1, round(value * factor)) for factor in WIDTH_FACTORS}
            knobs[f"architecture_options.{name}"] = _choices(multiples, value)
    return knobs


def _side(base: TrainConfig) -> dict[str, Knob]:
    if _pretrained(base):
        return {}
    short = min(base.data.image_size)
    floor = MIN_SIDE.get(base.architecture, 8)
    sides = {max(floor, round(short * share / 8) * 8) for share in SIDE_SHARES}
    knob = _choices({s for s in sides if s < short}, short)
    return {"side": knob} if len(knob.param.choices) > 1 else {}


def _schedule_label(base: TrainConfig) -> str:
    schedule = base.optimizer.schedule
    if schedule.name != "cosine":
        return schedule.name
    return "cosine_warmup" if schedule.warmup_epochs else "cosine"


def search_space(base: TrainConfig, base_steps: int | None) -> dict[str, Knob]:
    """The knobs searched around `base` (whose step budget is `base_steps`; None when only its
    `minutes` bounds it), each leaving out what the base config cannot take."""
    options = options_of(ARCHITECTURES.get(base.architecture))
    knobs = {**_width(base, options), **_side(base)}
    rate = base.optimizer.learning_rate
    knobs["optimizer.learning_rate"] = Knob(
        Range(low=rate / LEARNING_RATE_FACTOR, high=rate * LEARNING_RATE_FACTOR, log=True), rate
    )
    knobs["schedule"] = _choices({"cosine", "cosine_warmup"}, _schedule_label(base))
    if base.optimizer.name in ("adam", "adamw"):  # weight decay makes it AdamW
        decay = base.optimizer.weight_decay if base.optimizer.name == "adamw" else 0.0
        knobs["weight_decay"] = _choices(WEIGHT_DECAYS, decay)
    if any(getattr(base.augmentation, key) for key in SCALED):
        knobs["augmentation_strength"] = Knob(STRENGTH, 1.0)
    if base.loss.name in CROSS_ENTROPY_LOSSES:
        knobs["loss.label_smoothing"] = _choices(SMOOTHINGS, base.loss.label_smoothing)
    if base_steps:
        multiples = {max(1, round(base_steps * factor)) for factor in STEP_FACTORS}
        knobs["steps"] = _choices(multiples, base_steps)
    return knobs


def _set_side(raw: dict[str, Any], side: int) -> None:
    """The shorter side becomes `side` (aspect kept); a MobileNet's output stride shrinks with it,
    so its last feature map keeps the base's size."""
    height, width = raw["data"]["image_size"]
    short = min(height, width)
    raw["data"]["image_size"] = [round(height * side / short), round(width * side / short)]
    stride = raw["architecture_options"].get("output_stride")
    if stride:
        raw["architecture_options"]["output_stride"] = 2 ** int(
            math.log2(max(1.0, stride * side / short))
        )


def _set_schedule(raw: dict[str, Any], label: str) -> None:
    schedule = raw["optimizer"]["schedule"]
    if label == "cosine":
        schedule.update(name="cosine", warmup_epochs=0.0)
    elif label == "cosine_warmup":
        schedule.update(name="cosine", warmup_epochs=schedule["warmup_epochs"] or WARMUP_EPOCHS)
    # any other label is the base's own schedule (constant, exponential): left as it is


def _set_weight_decay(raw: dict[str, Any], decay: float) -> None:
    optimizer = raw["optimizer"]
    if decay:
        optimizer.update(name="adamw", weight_decay=decay)
    elif optimizer["name"] == "adamw":
        optimizer["weight_decay"] = 0.0


@functools.cache
def _ceiling(key: str) -> float:
    """The largest value the schema lets `augmentation.KEY` take (just under a `lt` limit)."""
    for bound in AugmentationConfig.model_fields[key].metadata:
        if hasattr(bound, "le"):
            return float(bound.le)
        if hasattr(bound, "lt"):
            return math.nextafter(float(bound.lt), 0.0)
    return math.inf


def _set_strength(raw: dict[str, Any], strength: float) -> None:
    augmentation = raw["augmentation"]
    for key in SCALED:
        if augmentation.get(key):
            augmentation[key] = min(round(augmentation[key] * strength, 6), _ceiling(key))


def _set_smoothing(raw: dict[str, Any], smoothing: float) -> None:
    raw["loss"]["label_smoothing"] = smoothing
    if smoothing and raw["loss"]["name"] == "sparse_categorical_crossentropy":
        raw["loss"]["name"] = "categorical_crossentropy"  # the same loss, on the one-hot labels


# The knobs that are not one training key each.
DERIVED: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "side": _set_side,
    "schedule": _set_schedule,
    "weight_decay": _set_weight_decay,
    "augmentation_strength": _set_strength,
    "loss.label_smoothing": _set_smoothing,
}


def expand(raw: dict[str, Any], params: dict[str, Any]) -> None:
    """Sets a trial's knobs into `raw`, a copy of the base config's mapping (the tune machinery's
    `Expand`): the derived ones as DERIVED says, the others as dotted keys."""
    for key, value in params.items():
        if key in DERIVED:
            DERIVED[key](raw, value)
        else:
            set_key(raw, key, value)


@dataclass(frozen=True)
class TimePlan:
    """How the search spends its duration (`trials_end` on the search's clock)."""

    trial_seconds: float  # trial 0's training cap: its config's `minutes`
    expected_seconds: float  # the longest a trial is expected to take, overhead included
    trials_end: float  # no trial may still run then
    final_seconds: float  # kept for the last step


def plan_time(
    duration: float, started: float, at: float, base_minutes: float | None = None
) -> TimePlan:
    """The plan of a search of `duration` seconds that began at `started` and plans at `at`:
    SearchTooShort when no trial could run."""
    final = min(FINAL_MAX_SECONDS, max(FINAL_MIN_SECONDS, FINAL_SHARE * duration))
    trials_end = started + duration - final
    left = trials_end - at
    # TARGET_TRIALS and a full run of about REFIT_TRIALS trials' time, at least
    # MIN_TRIAL_SECONDS, and one trial must fit
    cap = min(
        max(left / (TARGET_TRIALS + REFIT_TRIALS), MIN_TRIAL_SECONDS),
        (left - OVERHEAD_SECONDS) / (1 + OVERHEAD_SHARE),
    )
    cap = math.floor(cap * 10) / 10  # to a tenth of a second: a readable `minutes` in the run
    if cap < SHORTEST_TRIAL_SECONDS:
        need = SHORTEST_TRIAL_SECONDS * (1 + OVERHEAD_SHARE) + OVERHEAD_SECONDS - left
        raise SearchTooShort(
            f"--search: {duration:g} s leave {max(0.0, left):.0f} s for trials after reading the "
            f"data and fitting the baselines ({at - started:.0f} s) with {final:.0f} s kept for "
            f"the final run; give it at least {math.ceil(need / 60)} minute(s) more"
        )
    if base_minutes:  # --minutes: the base budget, a ceiling on every trial
        cap = min(cap, base_minutes * 60.0)
    return TimePlan(cap, cap * (1 + OVERHEAD_SHARE) + OVERHEAD_SECONDS, trials_end, final)


@dataclass
class Kept:
    """A trained trial: its number, score, config, fitted model and seconds (its whole trial)."""

    trial: int
    score: float
    config: TrainConfig
    fitted: Fitted
    seconds: float


class KeepBest:
    """The search's evaluator: a trial trained and scored as `visord tune` does it on the
    hold-out split, with the base config's (trial 0) and the best trial's fitted models kept,
    and each trial's phases (steps run, why it stopped)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.best: Kept | None = None
        self.base: Kept | None = None
        self.phases: dict[int, list[dict]] = {}

    def __call__(self, config: TrainConfig, reporter: Reporter) -> Evaluation:
        keep = functools.partial(self._offer, reporter.trial.number, config, self.clock())
        return evaluate_config(config, reporter, cv=1, metric=METRIC, keep=keep, clock=self.clock)

    def _offer(
        self, trial: int, config: TrainConfig, started: float, fitted: Fitted, scores: dict
    ) -> None:
        self.phases[trial] = fitted.phases
        score = scores[METRIC]
        if not math.isfinite(score):
            return
        kept = Kept(trial, score, config, fitted, self.clock() - started)
        if trial == 0:
            self.base = kept
        if self.best is None or score > self.best.score:
            self.best = kept


def noise_margin(score: float, images: int) -> float:
    """NOISE_Z standard errors of the difference of two accuracies near `score`, each on
    `images` validation images."""
    return NOISE_Z * math.sqrt(2.0 * score * (1.0 - score) / max(1, images))


def choose(best: Kept | None, base: Kept | None, images: int) -> Kept | None:
    """The trial whose config the search keeps: the best one when it beats the base config by
    more than the noise of `images` validation images, else the base (None: none completed)."""
    if best is None or base is None or best.trial == base.trial:
        return best
    return best if best.score - base.score > noise_margin(base.score, images) else base


@dataclass
class Fidelity:
    """The share of its full budget each trial trains (1 until trial 0 measures it: trial 0 is
    capped by time alone) and every trial's time cap in minutes: the search's `Expand`, which
    lays both over a trial's knobs."""

    minutes: float
    share: float = 1.0

    def __call__(self, raw: dict[str, Any], params: dict[str, Any]) -> None:
        expand(raw, params)
        raw["minutes"] = self.minutes
        if self.share >= 1.0:
            return
        if raw.get("steps"):
            raw["steps"] = max(1, round(raw["steps"] * self.share))
        fine = raw.get("fine_tune") or {}
        if fine.get("epochs"):
            fine["epochs"] = max(1, math.ceil(fine["epochs"] * self.share))

    def measure(self, phases: list[dict], base_steps: int | None, cap: float) -> None:
        """Sets the share from trial 0's `phases`: the steps it trained before its time cap over
        the base's `base_steps` (1 when it ended otherwise: its budget fitted in the cap), and
        lets later trials run up to SLOW_TRIAL times that `cap` (seconds)."""
        first = phases[0] if phases else None
        if first is not None and base_steps and first["stopped"] == STOPPED_TIME:
            self.share = min(1.0, first["steps"] / base_steps)
        self.minutes = round(cap * SLOW_TRIAL / 60.0, 4)

    def refit_seconds(self, kept: Kept) -> float:
        """How long the kept trial's config would take at its full budget, from its trial."""
        return kept.seconds / self.share


@dataclass
class SearchResult:
    """What a search left: the run folder, the chosen trial (None when none completed) and the
    run written from it."""

    folder: Path
    best: Kept | None
    run: RunResult | None


def _tune_config(
    base: TrainConfig,
    knobs: dict[str, Knob],
    fidelity: Fidelity,
    trials: float,
    folder: Path,
) -> TuneConfig:
    """The search as the tune machinery takes it (about `trials` trials expected): every trial
    laid out by `fidelity`."""
    raw = base.model_dump(mode="json")
    raw["minutes"] = fidelity.minutes
    settings = TuneSettings(
        name="search",
        space={key: knob.param for key, knob in knobs.items()},
        # random for about a third of the trials the time allows, then model-based
        sampler=SamplerSettings(
            name="tpe", seed=base.seed, startup_trials=max(3, min(10, int(trials / 3)))
        ),
        cv=1,
        metric=METRIC,
        pruning=PRUNING,
        output_dir=folder,
    )
    source = "visord train --search"
    return TuneConfig(settings, raw, parse_config(raw, source), source, folder, expand=fidelity)


def _trial_line(trial: FrozenTrial, best: Kept | None, left: float) -> str:
    score = f"{METRIC} {trial.value:.4f}" if trial.value is not None else ""
    reason = trial.user_attrs.get(REASON, "") if trial.state != TrialState.COMPLETE else ""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    leader = f"best {best.score:.4f} (trial {best.trial})" if best else "no best yet"
    return (
        f"search: trial {trial.number} {trial.state.name.lower()} {score or reason[:70]} "
        f"in {seconds:.0f} s; {leader}; {max(0.0, left):.0f} s left for trials"
    )


def _changes(knobs: dict[str, Knob], params: dict[str, Any]) -> str:
    """'learning_rate 0.002 -> 0.0051, steps 24 -> 48': the knobs a trial set otherwise."""
    changed = []
    for key, knob in knobs.items():
        if params[key] != knob.base:
            number = isinstance(params[key], (int, float))
            before, after = (
                (f"{knob.base:g}", f"{params[key]:g}") if number else (knob.base, params[key])
            )
            changed.append(f"{key.rpartition('.')[2]} {before} -> {after}")
    return ", ".join(changed) or "none"


def _base_score(study) -> float | None:
    """The base config's score (trial 0), None when it did not complete."""
    base = study.trials[0] if study.trials else None
    return base.value if base is not None and base.state == TrialState.COMPLETE else None


def _summary(
    study, keeper: KeepBest, chosen: Kept | None, knobs: dict[str, Knob], images: int
) -> list[str]:
    """The lines saying which trial won, by how much over the base config (trial 0), whether
    that is beyond the validation set's noise, and what it changed."""
    best = keeper.best
    if best is None or chosen is None:
        return ["search: no trial completed: no model (see the reasons in the table)"]
    base = _base_score(study)
    lines = [f"search: best trial {best.trial}, {METRIC} {best.score:.4f}"]
    if base is None:
        reason = study.trials[0].user_attrs.get(REASON, "")
        lines.append(f"  the base config (trial 0) did not complete: {reason}")
    elif best.trial == 0:
        lines.append("  the base config (trial 0): no trial beat it")
    elif chosen.trial == 0:
        lines.append(
            f"  {best.score - base:+.4f} over the base config (trial 0, {base:.4f}), within the "
            f"noise of {images} validation images (+-{noise_margin(base, images):.4f}): "
            "the base config is kept"
        )
    else:
        changes = _changes(knobs, params_of(study.trials[best.trial]))
        lines.append(
            f"  {best.score - base:+.4f} over the base config (trial 0, {base:.4f}); "
            f"changed: {changes}"
        )
    return lines


def _record(
    rows: list[dict[str, Any]],
    knobs: dict[str, Knob],
    plan: TimePlan,
    deadline: Deadline,
    started: float,
    keeper: KeepBest,
    base_score: float | None,
) -> dict:
    """search.json: the plan, the space, and every trial (its row of the table) with its params,
    score, state, seconds, the phases it trained, and when it started and ended on the search's
    clock (seconds from the search's start) and the deadline it started under."""
    trials = []
    for row, (begun, expected, ended, at) in zip(rows, deadline.runs):
        trials.append(
            {
                "trial": row["trial"],
                "state": row["state"],
                METRIC: row["score"],
                "seconds": row["duration_s"],
                "params": {key: row[key] for key in knobs},
                "phases": keeper.phases.get(row["trial"], []),
                "reason": row["reason"],
                "started_s": round(begun - started, 3),
                "expected_s": round(expected, 3),
                "ended_s": round(ended - started, 3),
                "deadline_s": round(at - started, 3),
            }
        )
    best = keeper.best
    return {
        "metric": METRIC,
        "scored_on": "the config's validation split (hold-out)",
        "trial_cap_s": round(plan.trial_seconds, 3),
        "trials_end_s": round(deadline.at - started, 3),
        "final_reserve_s": round(plan.final_seconds, 3),
        "next_expected_s": round(deadline.trial_seconds, 3),
        "space": {key: knob.param.model_dump(mode="json") for key, knob in knobs.items()},
        "base": {key: knob.base for key, knob in knobs.items()},
        "base_trial": 0,
        "base_score": base_score,
        "best_trial": best.trial if best else None,
        "best_score": best.score if best else None,
        "gain": best.score - base_score if best and base_score is not None else None,
        "trials": trials,
    }


def _final_baselines(
    chosen: TrainConfig, base: TrainConfig, split: Split, fitted_before: list[Baseline]
) -> list[Baseline]:
    """The baselines fitted before the search, or again when the chosen config's side gives
    them other pixels."""
    if pixel_side(chosen.data.image_size) == pixel_side(base.data.image_size):
        return fitted_before
    return split_baselines(*split, chosen.data, base.seed)


@dataclass
class Trials:
    """What the trials left: the study, the kept models, the deadline's record, and the
    fidelity the trials trained at."""

    study: optuna.Study
    keeper: KeepBest
    deadline: Deadline
    fidelity: Fidelity


def _run_trials(
    tune: TuneConfig,
    knobs: dict[str, Knob],
    plan: TimePlan,
    fidelity: Fidelity,
    base_steps: int | None,
    images: int,
    clock,
    show: bool,
) -> Trials:
    """The base config as trial 0, which measures the fidelity, then sampled trials for as long
    as one can end before the time kept for the chosen trial's full run."""
    handle = open_study(tune)
    add_ticket(handle, {key: knob.base for key, knob in knobs.items()})
    keeper = KeepBest(clock)
    deadline = Deadline(plan.trials_end, plan.expected_seconds, clock)
    most = REFIT_MAX_SHARE * (plan.trials_end - clock())

    def after_trial() -> None:
        last = handle.study.get_trials(deepcopy=False)[-1]
        if last.number == 0:
            fidelity.measure(keeper.phases.get(0, []), base_steps, plan.trial_seconds)
        chosen = choose(keeper.best, keeper.base, images)
        if fidelity.share < 1.0 and chosen is not None:
            deadline.at = plan.trials_end - min(most, fidelity.refit_seconds(chosen))
        if show:
            print(_trial_line(last, keeper.best, deadline.at - clock()), flush=True)

    work(handle, tune, keeper, on_trial_end=after_trial, deadline=deadline)
    return Trials(handle.study, keeper, deadline, fidelity)


@dataclass
class Final:
    """The model written as the run: the chosen trial's, or its config trained again at its
    full budget (`refit`); the seconds its trial took and those left for training it again
    (None: the trials trained their full budget)."""

    trial: int
    config: TrainConfig
    fitted: Fitted
    refit: bool
    trial_seconds: float
    seconds_left: float | None = None


def _final(
    chosen: Kept, trials: Trials, base: TrainConfig, plan: TimePlan, split: Split, clock, show
) -> Final:
    """The chosen trial's own model when trials trained their full budget, or when the time left
    is no more than its trial took (trained again in it, it would learn no more); else its config
    trained again at the full budget, within the time left (its schedule fitted to that)."""
    if trials.fidelity.share >= 1.0:
        return Final(chosen.trial, chosen.config, chosen.fitted, False, chosen.seconds)
    seconds = plan.trials_end - clock()
    if base.minutes:
        seconds = min(seconds, base.minutes * 60.0)
    if seconds <= chosen.seconds:
        if show:
            print(
                f"search: {max(0.0, seconds):.0f} s left, no more than trial {chosen.trial} took: "
                "its own model is the run, not trained again",
                flush=True,
            )
        return Final(chosen.trial, chosen.config, chosen.fitted, False, chosen.seconds, seconds)
    raw = base.model_dump(mode="json")
    expand(raw, params_of(trials.study.trials[chosen.trial]))
    raw["minutes"] = round(seconds / 60.0, 4)
    config = parse_config(raw, "visord train --search")
    if show:
        budget = f"{config.steps} steps" if config.steps else "its minutes"
        print(
            f"search: training trial {chosen.trial}'s config at its full budget ({budget}, "
            f"the trials trained {trials.fidelity.share:.0%} of theirs) in at most "
            f"{seconds:.0f} s",
            flush=True,
        )
    keras.backend.clear_session()
    fitted = fit_on_sets(config, *split, verbose=0, clock=clock)
    return Final(chosen.trial, config, fitted, True, chosen.seconds, seconds)


def search(
    base: TrainConfig,
    duration: float,
    *,
    spent: float = 0.0,
    report: bool = True,
    show: bool = True,
) -> SearchResult:
    """Searches around `base` for `duration` seconds (`spent` of them already gone: loading
    TensorFlow, reading the folder) and writes the best trial's model as a run folder under the
    base's `output_dir`, with its trials; `show` prints a line per trial and the table, `report`
    the run's report."""
    clock = now
    started = clock() - spent
    split = splits_for(base, 1)[0]  # the split every trial trains and is scored on
    baselines = split_baselines(*split, base.data, base.seed)
    plan = plan_time(duration, started, clock(), base.minutes)
    base_steps = base.steps or (
        None if base.minutes else base.epochs * steps_per_epoch(base, split[0])
    )
    knobs = search_space(base, base_steps)
    folder = create_run_folder(base.output_dir, base.name)
    expected_trials = (plan.trials_end - clock()) / plan.expected_seconds
    fidelity = Fidelity(round(plan.trial_seconds / 60.0, 4))
    if base.minutes and not base_steps:  # a budget of minutes alone: trials train a share of it
        fidelity.share = min(1.0, plan.trial_seconds / (base.minutes * 60.0))
    tune = _tune_config(base, knobs, fidelity, expected_trials, folder / "search")
    images = len(split[1].paths)
    if show:
        print(
            f"search: {duration / 60:g} min, {images} validation images; the base config first, "
            f"in at most {plan.trial_seconds:.0f} s, then the other trials at the share of their "
            f"budget it trained, until the time kept for training the chosen one in full and "
            f"{plan.final_seconds:.0f} s for writing it; knobs: "
            f"{', '.join(key.rpartition('.')[2] for key in knobs)}",
            flush=True,
        )
    trials = _run_trials(tune, knobs, plan, fidelity, base_steps, images, clock, show)
    study, keeper = trials.study, trials.keeper
    # search/: trials.csv, plots, tune.yaml, and best.yaml at the full budget
    write_outputs(study, replace(tune, base_raw=base.model_dump(mode="json"), expand=expand))
    rows = trial_rows(study, list(knobs))
    if show and rows:
        print(format_table(rows, list(knobs), compact=True))
    chosen = choose(keeper.best, keeper.base, images)
    print("\n".join(_summary(study, keeper, chosen, knobs, images)), flush=True)
    run, final = None, None
    if chosen is not None:
        final = _final(chosen, trials, base, plan, split, clock, show)
        finals = _final_baselines(final.config, base, split, baselines)
        run = write_run(folder, final.config, final.fitted, split, finals, report)
    record = {"duration_s": duration}
    record |= _record(rows, knobs, plan, trials.deadline, started, keeper, _base_score(study))
    record |= {
        "noise_margin": noise_margin(keeper.base.score, images) if keeper.base else None,
        "fidelity": fidelity.share,
        "chosen_trial": chosen.trial if chosen else None,
        "final": None
        if final is None or run is None
        else {
            "trial": final.trial,
            "refit": final.refit,
            "trial_seconds": round(final.trial_seconds, 3),
            "seconds_left": None if final.seconds_left is None else round(final.seconds_left, 3),
            "phases": final.fitted.phases,
            METRIC: run.report["accuracy"],
        },
        "spent_s": round(clock() - started, 3),
    }
    (folder / "search.json").write_text(json.dumps(record, indent=2))
    if run is None:
        print(f"search: trials in {folder / 'search.json'}")
    return SearchResult(folder, chosen, run)
