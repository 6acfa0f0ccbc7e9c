"""Samplers and the pruner, looked up by name.

Owns the registry behind `sampler.name` (grid, random, tpe) and building the
pruner from `pruning:`. Each worker process builds its own sampler: with a
seed, worker i uses seed + i, so parallel workers do not draw the same
parameters, and one worker with the same seed repeats the same search.
Optuna is imported only when a sampler is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from visord.contract.registry import Registry

if TYPE_CHECKING:
    import optuna

    from visord.training.tune.settings import PruningSettings, SamplerSettings

SamplerBuilder = Callable[["SamplerSettings", "int | None"], "optuna.samplers.BaseSampler"]
SAMPLERS: Registry[SamplerBuilder] = Registry("sampler")


@SAMPLERS.register("grid")
def _grid(settings: SamplerSettings, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    # Grid trials are queued with every parameter fixed (visord.training.tune.queue), so this
    # sampler is never asked for a value. Optuna's GridSampler is not used: with several workers
    # it can repeat points.
    return optuna.samplers.RandomSampler(seed=seed)


@SAMPLERS.register("random")
def _random(settings: SamplerSettings, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


@SAMPLERS.register("tpe")
def _tpe(settings: SamplerSettings, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    # constant_liar: parallel workers see each other's running trials and spread out
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=settings.startup_trials, constant_liar=True
    )


def build_sampler(settings: SamplerSettings, worker: int = 0) -> optuna.samplers.BaseSampler:
    seed = None if settings.seed is None else settings.seed + worker
    return SAMPLERS.get(settings.name)(settings, seed)


def build_pruner(settings: PruningSettings) -> optuna.pruners.BasePruner:
    """The median pruner on per-epoch scores, or none."""
    import optuna

    if not settings.enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_epochs
    )
