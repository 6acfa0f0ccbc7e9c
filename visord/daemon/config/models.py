"""The `models:` section: named ONNX models, their roles and how onnxruntime runs them.

Owns the execution-provider names (short, lowercase, mapped to onnxruntime's)
and a model's fields. The manifest inside the file is read by
`visord.contract.manifest`, not here: loading a config reads no model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator

from visord.daemon.config.base import Strict, unique

# Short names in the config; onnxruntime's names at run time. The engine falls back to CPU with a
# warning
# when a listed provider is not available on this box.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "acl": "ACLExecutionProvider",
    "armnn": "ArmNNExecutionProvider",
}
Role = Literal["large", "small"]
ROLES: tuple[Role, ...] = get_args(Role)  # a stream's `model: large` or `small` names a role


class ModelConfig(Strict):
    """One ONNX model file with its embedded manifest."""

    path: Path = Field(
        description="The .onnx file (relative paths are taken from the working directory)."
    )
    role: Role | None = Field(
        None,
        description="large or small: what a stream's `model: large|small` and cascade/auto "
        "resolve to.",
    )
    providers: list[str] = Field(
        default_factory=lambda: ["cpu"],
        min_length=1,
        description=f"Execution providers in order of preference: {', '.join(PROVIDERS)}.",
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Intra-op threads for this model's session (default: from the budget).",
    )

    @field_validator("path")
    @classmethod
    def _onnx_file(cls, value: Path) -> Path:
        if value.suffix.lower() != ".onnx":
            raise ValueError(f"'{value}' is not an .onnx file")
        return value

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in PROVIDERS:
                raise ValueError(
                    f"unknown execution provider '{name[:40]}' (valid: {', '.join(PROVIDERS)})"
                )
        return unique(value, "provider")
