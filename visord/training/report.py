"""Evaluation reports and training curves.

Owns the numbers a run is judged by (accuracy, per-class precision, recall and
F1, the confusion matrix), computed from labels and predictions with NumPy
only, their text table with the judgement under it (how training ended, the classical
baselines, the flags), the PNG charts of a run folder, and how every training
command prints a fraction as a percentage (`percent`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from visord.training.baselines import Baseline, format_baselines, verdict  # noqa: E402


def percent(fraction: float, digits: int = 2, sign: bool = False) -> str:
    """`fraction` as a percentage with `digits` decimals (and a + or - with `sign`); one that
    rounds to zero prints 0.00% (+0.00%), never -0.00%."""
    text = f"{fraction:{'+' if sign else ''}.{digits}%}"
    if float(text[:-1]) == 0:  # -0.00 == 0: a tiny negative (or -0.0) loses its minus
        text = ("+" if sign else "") + text.lstrip("+-")
    return text


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def compute_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class and macro-averaged precision/recall/F1, and the confusion matrix."""
    matrix = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), len(classes))
    per_class = {}
    for k, name in enumerate(classes):
        hits, predicted, actual = matrix[k, k], matrix[:, k].sum(), matrix[k, :].sum()
        precision, recall = _ratio(hits, predicted), _ratio(hits, actual)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(actual),
        }
    macro = {
        key: float(np.mean([row[key] for row in per_class.values()]))
        for key in ("precision", "recall", "f1")
    }
    return {
        "classes": list(classes),
        "samples": int(matrix.sum()),
        "accuracy": _ratio(np.trace(matrix), matrix.sum()),
        "per_class": per_class,
        "macro_avg": macro,
        "confusion_matrix": matrix.tolist(),
    }


def format_report(report: dict) -> str:
    """A classification-report table, sklearn style."""
    width = max(12, *(len(name) for name in report["classes"]))
    lines = [f"{'':{width}}  precision  recall  f1-score  support"]
    for name, row in report["per_class"].items():
        lines.append(
            f"{name:{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:8.3f}  "
            f"{row['support']:7d}"
        )
    macro = report["macro_avg"]
    lines.append(
        f"{'macro avg':{width}}  {macro['precision']:9.3f}  {macro['recall']:6.3f}  "
        f"{macro['f1']:8.3f}  {report['samples']:7d}"
    )
    lines.append(f"{'accuracy':{width}}  {report['accuracy']:.4f} on {report['samples']} images")
    return "\n".join(lines + judgement(report))


def judgement(report: dict) -> list[str]:
    """The lines under a report's table: how training ended, the classical baselines beside the
    network's accuracy, and a one-line flag for each thing that is wrong (underfit, beaten by a
    baseline)."""
    lines = []
    training = report.get("training")
    if training and training.get("phases"):
        spent = ", ".join(
            f"{phase['steps']} steps (stopped: {phase['stopped']})" for phase in training["phases"]
        )
        lines.append(f"training: {training['epochs']} epochs, {spent}")
    baselines = [Baseline(**row) for row in report.get("baselines") or []]
    if baselines:
        lines += ["", "on the same images:"]
        lines.append(format_baselines(report["accuracy"], baselines))
        flag = verdict(report["accuracy"], baselines)
        if flag:
            lines.append(flag)
    if report.get("baselines_note"):
        lines.append(report["baselines_note"])
    if training and training.get("underfit"):
        lines.append(training["underfit"])
    return lines


def plot_confusion(report: dict, path: Path) -> None:
    matrix = np.array(report["confusion_matrix"])
    classes = report["classes"]
    size = 1.2 + 0.7 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']:.3f}")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
        )
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=prefix + metric)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_history_csv(history: dict[str, list[float]], path: Path) -> None:
    keys = list(history)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch, row in enumerate(zip(*(history[k] for k in keys)), start=1):
            writer.writerow([epoch, *row])


def save_report(report: dict, folder: Path) -> None:
    """report.json, confusion_matrix.json and confusion_matrix.png in `folder`."""
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    matrix = {
        "classes": report["classes"],
        "rows": "true",
        "columns": "predicted",
        "matrix": report["confusion_matrix"],
    }
    (folder / "confusion_matrix.json").write_text(json.dumps(matrix, indent=2))
    plot_confusion(report, folder / "confusion_matrix.png")
