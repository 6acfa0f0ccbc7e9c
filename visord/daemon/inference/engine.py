"""Inference: one onnxruntime session per model, shared by every stream.

Owns loading a model file (refused unless its manifest is valid and agrees
with the graph), choosing execution providers (the configured order, falling
back to CPU with a warning when one is missing or fails to start),
classifying a batch of decoded frames (preprocessing per manifest, one
`session.run`, softmax when the graph outputs logits), and telling whether a
loaded model's file has changed on disk since (a reload must then load it
again: an operator replaces a model file in place and sends SIGHUP).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from visord.contract.manifest import Manifest, ManifestError, manifest_of, open_session
from visord.contract.scores import to_scores
from visord.daemon.config.model_files import missing_model
from visord.daemon.config.models import PROVIDERS
from visord.daemon.inference.preprocess import Roi, prepare

log = logging.getLogger(__name__)

CPU = PROVIDERS["cpu"]


@dataclass(frozen=True)
class Prediction:
    """The answer of one model for one frame."""

    label: str
    score: float
    probabilities: np.ndarray
    model: str


def resolve_providers(names: Sequence[str], model: str) -> list[str]:
    """onnxruntime provider names for `names`, in order, without the unavailable ones; CPU always
    last."""
    available = set(ort.get_available_providers())
    chosen = []
    for name in names:
        provider = PROVIDERS.get(name.lower(), name)
        if provider in available:
            chosen.append(provider)
        else:
            log.warning("model=%s provider=%s unavailable here, falling back", model, name)
    return [p for p in chosen if p != CPU] + [CPU]


def file_identity(path: Path) -> tuple[int, int, int, int] | None:
    """Device, inode, size and modification time: what tells a replaced or rewritten file apart
    (None: gone)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


class Model:
    """A loaded model: its checked manifest and a session every stream shares (onnxruntime's run is
    thread-safe)."""

    def __init__(
        self,
        name: str,
        path: Path,
        providers: Sequence[str] = ("cpu",),
        threads: int | None = None,
        spin: bool | Literal["auto"] = False,
    ):
        self.name = name
        self.path = Path(path)
        self.spin = spin
        if not self.path.is_file():
            raise ManifestError(f"models.{name}.path: {missing_model(self.path)}")
        # before reading: a change during the load shows at the next check
        self._identity = file_identity(self.path)
        providers = resolve_providers(providers, name)
        # auto: a quiet session and a spinning one, the runtime picks by load (`set_busy`)
        self._sessions = {
            busy: self._open(providers, threads, busy)
            for busy in ((False, True) if spin == "auto" else (bool(spin),))
        }
        self.session = self._sessions[spin is True]
        self.manifest: Manifest = manifest_of(self.session, str(path))
        self.input_name = self.manifest.input.name
        self.labels = self.manifest.labels
        log.info(
            "model=%s loaded path=%s providers=%s labels=%d input=%s precision=%s spin=%s",
            name,
            path,
            ",".join(self.session.get_providers()),
            len(self.labels),
            list(self.manifest.input.shape),
            self.manifest.precision,
            spin,
        )

    def set_busy(self, busy: bool) -> None:
        """With `spin: auto`, runs go to the spinning session while inference runs flat out."""
        self.session = self._sessions.get(busy, self.session)

    def _open(self, providers: list[str], threads: int | None, spin: bool) -> ort.InferenceSession:
        try:
            return open_session(self.path, providers, threads, spin)
        except ManifestError:
            if providers == [CPU]:
                raise
            log.warning(
                "model=%s providers=%s failed to start, falling back to CPU",
                self.name,
                ",".join(providers),
            )
            return open_session(self.path, [CPU], threads, spin)

    def changed_on_disk(self) -> bool:
        """Whether the file at `path` is no longer the one loaded (rewritten, replaced or gone)."""
        return file_identity(self.path) != self._identity

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for an already preprocessed batch."""
        output = self.session.run(None, {self.input_name: batch})[0]
        output_spec = self.manifest.output
        return to_scores(output, output_spec.kind, output_spec.temperature)

    def classify(
        self, frames: Sequence[np.ndarray], rois: Sequence[Roi | None] | None = None
    ) -> list[Prediction]:
        """One prediction per decoded frame (any size, BGR/grey/BGRA), in one batch."""
        rois = rois or [None] * len(frames)
        batch = np.stack([prepare(frame, self.manifest, roi) for frame, roi in zip(frames, rois)])
        return [self._prediction(row) for row in self.run(batch)]

    def _prediction(self, probabilities: np.ndarray) -> Prediction:
        index = int(np.argmax(probabilities))
        return Prediction(self.labels[index], float(probabilities[index]), probabilities, self.name)


@dataclass(frozen=True)
class TimedBatch:
    predictions: list[Prediction]
    seconds: float


def classify_timed(
    model: Model, frames: Sequence[np.ndarray], rois: Sequence[Roi | None]
) -> TimedBatch:
    """`model.classify` with its wall-clock duration, for the latency histogram and the router's
    cost estimate."""
    started = time.perf_counter()
    predictions = model.classify(frames, rois)
    return TimedBatch(predictions, time.perf_counter() - started)
