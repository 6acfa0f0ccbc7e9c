"""What a config asks of its model files: each one exists and carries a valid manifest, and the
models a cascade or `auto` stream swaps between speak the same labels.

`visord check` reports these problems; `visord run` refuses to start on them and a SIGHUP reload
refuses a config that has them, so the three agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from visord.daemon.config import ConfigError, DaemonConfig, ModelConfig
from visord.daemon.config.errors import Problem
from visord.daemon.config.policy import TWO_MODEL_MODES
from visord.daemon.config.yaml_lines import format_path


def missing_model(path: Path) -> str:
    """Why a model file is not there, with the absolute path tried for a relative one."""
    tried = (
        ""
        if Path(path).is_absolute()
        else f" (relative to the working directory: {Path(path).absolute()})"
    )
    return (
        f"model file {path} does not exist{tried}; `make models` builds the demo models, "
        "`visord export` makes yours"
    )


def file_problems(
    models: Mapping[str, ModelConfig],
) -> tuple[list[Problem], dict[str, tuple[str, ...]]]:
    """Problems of the model files named by a config's `models:`, and the labels of the ones that
    load."""
    from visord.contract.manifest import ManifestError, load_manifest  # onnxruntime

    problems: list[Problem] = []
    labels: dict[str, tuple[str, ...]] = {}
    for name, model in models.items():
        key = ("models", name, "path")
        if not model.path.is_file():
            problems.append((key, missing_model(model.path)))
            continue
        try:
            labels[name] = tuple(load_manifest(model.path).labels)
        except ManifestError as error:
            problems.append((key, str(error)))
    return problems, labels


def label_problems(config: DaemonConfig, labels: Mapping[str, Sequence[str]]) -> list[Problem]:
    """cascade and auto swap the small model's answer for the large one's: both must speak the
    same labels, in the same order."""
    small = config.model_for_role("small")
    large = config.model_for_role("large")
    users = [
        stream.name for stream in config.streams if config.choices_of(stream) & set(TWO_MODEL_MODES)
    ]
    if not users or small not in labels or large not in labels:
        return []
    if tuple(labels[small]) == tuple(labels[large]):
        return []
    return [
        (
            ("models", large, "path"),
            f"labels {list(labels[large])} differ from models.{small}'s "
            f"{list(labels[small])}; cascade/auto streams ({', '.join(users)}) need "
            "the same labels in the same order",
        )
    ]


def refuse_label_mismatch(config: DaemonConfig, labels: Mapping[str, Sequence[str]]) -> None:
    """ConfigError naming the key path when `label_problems` finds any (for run and reload)."""
    problems = label_problems(config, labels)
    if problems:
        raise ConfigError([f"{format_path(path)}: {message}" for path, message in problems])
