"""What a config asks of its model files: each one exists and carries a valid manifest, the
models a cascade or `auto` stream swaps between speak the same labels, and an `escalate_below`
given as a target has the small model's operating curve with this large model to resolve it.

`visord check` reports these problems; `visord run` refuses to start on them and a SIGHUP reload
refuses a config that has them, so the three agree. The one part of the config's checks that reads
files other than the config: importing it loads no onnxruntime, checking does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from visord.daemon.config import ConfigError, DaemonConfig, ModelConfig
from visord.daemon.config.errors import Problem
from visord.daemon.config.policy import TWO_MODEL_MODES, EscalationTarget
from visord.daemon.config.yaml_lines import format_path

if TYPE_CHECKING:  # the manifest module imports onnxruntime: loaded when a check reads a file
    from visord.contract.manifest import Manifest


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
) -> tuple[list[Problem], dict[str, Manifest]]:
    """Problems of the model files named by a config's `models:`, and the manifests of the ones
    that load."""
    from visord.contract.manifest import ManifestError, load_manifest  # onnxruntime

    problems: list[Problem] = []
    manifests: dict[str, Manifest] = {}
    for name, model in models.items():
        key = ("models", name, "path")
        if not model.path.is_file():
            problems.append((key, missing_model(model.path)))
            continue
        try:
            manifests[name] = load_manifest(model.path)
        except ManifestError as error:
            problems.append((key, str(error)))
    return problems, manifests


def pair_problems(
    config: DaemonConfig, manifests: Mapping[str, Manifest], files: Mapping[str, Path] | None = None
) -> list[Problem]:
    """What the small and large models must agree on for the cascade and `auto` streams: their
    labels, and, where an `escalate_below` is a target, the small model's operating curve.
    `files` names model files other than the config's (a deploy's candidate)."""
    from visord.contract.manifest import model_digest  # onnxruntime

    small = config.model_for_role("small")
    large = config.model_for_role("large")
    users = [
        stream.name for stream in config.streams if config.choices_of(stream) & set(TWO_MODEL_MODES)
    ]
    if not users or small not in manifests or large not in manifests:
        return []
    labels = manifests[small].labels, manifests[large].labels
    if labels[0] != labels[1]:
        return [
            (
                ("models", large, "path"),
                f"labels {list(labels[1])} differ from models.{small}'s {list(labels[0])}; "
                f"cascade/auto streams ({', '.join(users)}) need the same labels in the same order",
            )
        ]
    targets = sorted({str(target) for target in escalation_targets(config)})
    if not targets:
        return []
    curve = manifests[small].cascade_curve
    digest = model_digest((files or {}).get(large, config.models[large].path))
    if curve is not None and curve.partner_sha256 == digest:
        return []
    why = (
        "has no operating curve"
        if curve is None
        else f"has an operating curve measured with another large model ({curve.partner})"
    )
    return [
        (
            ("models", small, "path"),
            f"escalate_below {', '.join(targets)} needs the cascade's operating curve, and this "
            f"model {why}: measure it with `visord curve {config.models[small].path} "
            f"{config.models[large].path} --data FOLDER --write`",
        )
    ]


def escalation_targets(config: DaemonConfig) -> list[EscalationTarget]:
    """Every `escalate_below` of the config given as a target rather than a score."""
    sections = [config.cascade, *(s.cascade for s in config.streams)]
    sections += [rule.set.cascade for rule in config.rules]
    return [
        section.escalate_below
        for section in sections
        if section is not None and isinstance(section.escalate_below, EscalationTarget)
    ]


def refuse_pair_problems(config: DaemonConfig, manifests: Mapping[str, Manifest]) -> None:
    """ConfigError naming the key path when `pair_problems` finds any (for run and reload)."""
    problems = pair_problems(config, manifests)
    if problems:
        raise ConfigError([f"{format_path(path)}: {message}" for path, message in problems])
