"""Tiny ONNX classifiers made with the `onnx` helper API, with or without a manifest: no TensorFlow
needed.

The graph: pixels (N, H, W, C) float32 -> mean over H and W -> MatMul (C x classes) -> Softmax. With
the default weights, the class whose weight row favours the frame's dominant colour channel wins, so
a test can steer the answer by painting the frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from visord.contract.manifest import MANIFEST_KEY, Manifest


def manifest_dict(
    labels: tuple[str, ...] = ("red", "green", "blue"),
    size: int = 8,
    channels: int = 3,
    **changes: Any,
) -> dict[str, Any]:
    """A valid manifest (as a dict) for `tiny_classifier`'s graph; `changes` replace top-level
    fields."""
    data = {
        "schema_version": 1,
        "name": "tiny",
        "version": "1",
        "labels": list(labels),
        "input": {
            "name": "pixels",
            "shape": [None, size, size, channels],
            "layout": "NHWC",
            "dtype": "float32",
        },
        "preprocessing": {"colour": "RGB" if channels == 3 else "GREY", "resize": "stretch"},
        "output": {"name": "predictions", "kind": "probabilities"},
        "opset": 18,
        "precision": "fp32",
        "parameters": channels * len(labels),
        "flops": 2 * channels * len(labels),
        "training": {
            "architecture": "tiny",
            "dataset": "none",
            "samples": {},
            "validation_samples": 0,
            "validation_accuracy": 0.0,
        },
        "latency": {"batch1_ms": 0.01, "batch8_ms": 0.02, "threads": 1, "machine": "test"},
    }
    data.update(changes)
    return data


def tiny_classifier(
    path: Path,
    manifest: dict[str, Any] | Manifest | str | None = None,
    *,
    size: int = 8,
    channels: int = 3,
    classes: int = 3,
    input_name: str = "pixels",
    weights: np.ndarray | None = None,
) -> Path:
    """Writes the tiny graph to `path`; `manifest` (dict, Manifest or raw text) goes into
    metadata_props."""
    weights = (
        np.eye(channels, classes, dtype=np.float32) * 0.1
        if weights is None
        else weights.astype(np.float32)
    )
    nodes = [
        helper.make_node("ReduceMean", [input_name, "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "weights"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["predictions"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", size, size, channels])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["N", classes])],
        initializer=[
            numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if manifest is not None:
        text = (
            manifest
            if isinstance(manifest, str)
            else (manifest.to_json() if isinstance(manifest, Manifest) else json.dumps(manifest))
        )
        model.metadata_props.add(key=MANIFEST_KEY, value=text)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def small_and_large(folder: Path) -> tuple[Path, Path]:
    """folder/small.onnx and folder/large.onnx: the same labels, the large one with sharper weights
    (more confident)."""
    return (
        tiny_classifier(folder / "small.onnx", manifest_dict(name="small")),
        tiny_classifier(folder / "large.onnx", manifest_dict(name="large"), weights=np.eye(3) * 5),
    )


def small_and_large_yaml(models: tuple[Path, Path], streams: str) -> str:
    """A daemon config naming `models` (small, large) in their roles and the given `streams:`
    items."""
    from visord.testing.daemon_config import daemon_yaml

    small, large = models
    return daemon_yaml({"small": small, "large": large}, streams)


def matmul_chain_classifier(
    path: Path,
    manifest: dict[str, Any],
    *,
    width: int = 256,
    depth: int = 40,
    rows: int = 64,
    classes: int = 3,
    size: int = 8,
) -> Path:
    """A "large" model whose cost the test controls: `tiny_classifier`'s answer (the frame's
    dominant channel,
    confidently), after `depth` MatMuls by one near-identity width x width matrix applied to `rows`
    copies of each frame's vector (about 2 x depth x rows x width^2 FLOPs per frame; the file holds
    the matrix once). The copies make every MatMul a compute-bound matrix product, so a batch of n
    frames costs about n times one frame, as a real convolutional network does; one vector per frame
    would be bound by reading the matrix, and a batch of three would cost little more than one
    frame."""
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
        numpy_helper.from_array(np.array([rows, 1], np.int64), "repeats"),
        numpy_helper.from_array(np.array([rows, -1, width], np.int64), "copies"),
        numpy_helper.from_array(np.array([0], np.int64), "copy_axis"),
        numpy_helper.from_array((np.eye(3, width) * 0.1).astype(np.float32), "widen"),
        numpy_helper.from_array(
            (np.eye(width) + rng.normal(0, 1e-5, (width, width))).astype(np.float32), "mix"
        ),
        numpy_helper.from_array((np.eye(width, classes) * 50).astype(np.float32), "narrow"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["pixels", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "widen"], ["wide"]),
        helper.make_node("Tile", ["wide", "repeats"], ["h0"]),  # h0: (rows x N, width)
    ]
    nodes += [
        helper.make_node("MatMul", [f"h{index}", "mix"], [f"h{index + 1}"])
        for index in range(depth)
    ]
    nodes += [
        helper.make_node("Reshape", [f"h{depth}", "copies"], ["stacked"]),  # (rows, N, width)
        helper.make_node("ReduceMean", ["stacked", "copy_axis"], ["mixed"], keepdims=0),
        helper.make_node("MatMul", ["mixed", "narrow"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["predictions"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "matmul-chain",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["N", classes])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    model.metadata_props.add(key=MANIFEST_KEY, value=json.dumps(manifest))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)
