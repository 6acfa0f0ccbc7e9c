"""int8 quantization: the int8 file carries its own manifest, keeps top-1, and is refused (or only
warned about) when it loses accuracy or speed. Speed decisions are tested with injected timings,
never measured ones."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest

from visord.cli import main
from visord.contract.manifest import Calibration, load_manifest
from visord.testing.quadrants import tiny_config
from visord.training.export import export, load_source, onnx_predict, validation_images
from visord.training.quantize import (
    DEFAULT,
    MAX_ACCURACY_DROP,
    RECIPES,
    Comparison,
    QuantizationError,
    decide,
    failed_checks,
    int8_path,
    quantize,
    quantize_file,
)
from visord.training.report import percent
from visord.training.train import train

# a calibration that has never seen a bright square
GREY_FRAMES = np.full((16, 32, 32, 3), 10.0, dtype=np.float32)


@pytest.fixture(scope="module")
def run(quadrants, tmp_path_factory):
    """A tiny trained run (dnn, 3 epochs: it reaches full accuracy on the quadrants)."""
    config = tiny_config(quadrants, tmp_path_factory.mktemp("runs"), {"epochs": 3})
    return train(config, verbose=0).folder


@pytest.fixture(scope="module")
def fp32(run, tmp_path_factory):
    return export(run, tmp_path_factory.mktemp("fp32") / "tiny.onnx", version="7").path


@pytest.fixture(scope="module")
def kept(run, fp32, tmp_path_factory):
    """The default recipe's int8 model; a tiny dense net is not faster in int8, so speed is not
    checked here."""
    return quantize(
        run, fp32, tmp_path_factory.mktemp("int8") / "tiny-int8.onnx", allow_slower=True
    )


def comparison(
    fp32_ms: float, int8_ms: float, fp32_accuracy: float = 0.9, int8_accuracy: float = 0.9
) -> Comparison:
    return Comparison(
        images=100,
        fp32_accuracy=fp32_accuracy,
        int8_accuracy=int8_accuracy,
        agreement=0.99,
        max_abs_diff=0.01,
        fp32_latency={1: fp32_ms / 4, 8: fp32_ms},
        int8_latency={1: int8_ms / 4, 8: int8_ms},
        threads=2,
        int8_calibration=Calibration(temperature=1.0, ece_before=0.0, ece_after=0.0, images=100),
    )


def test_int8_model_loads_with_its_own_manifest(kept, fp32):
    manifest, reference = load_manifest(kept.path), load_manifest(fp32)
    assert manifest == kept.manifest
    assert manifest.precision == "int8" and manifest.name == "tiny-int8" and manifest.version == "7"
    assert manifest.labels == reference.labels and manifest.input == reference.input
    assert manifest.training.validation_accuracy == pytest.approx(kept.comparison.int8_accuracy)
    assert manifest.latency.batch8_ms == pytest.approx(kept.comparison.int8_latency[8])
    assert manifest.latency.threads == 2
    ops = {node.op_type for node in onnx.load(str(kept.path)).graph.node}
    # DEFAULT is QDQ: it really is an int8 graph
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


def test_int8_keeps_top1_agreement_with_fp32(kept, run, fp32):
    result = kept.comparison
    assert result.images == 40 and result.agreement >= 0.95
    assert result.accuracy_drop <= MAX_ACCURACY_DROP
    assert failed_checks(result, require_faster=False) == []
    pixels, _ = validation_images(load_source(run))
    assert (
        np.mean(onnx_predict(kept.path, pixels).argmax(-1) == onnx_predict(fp32, pixels).argmax(-1))
        >= 0.95
    )


def test_accuracy_loss_is_refused_and_nothing_written(run, fp32, tmp_path):
    with pytest.raises(
        QuantizationError, match=r"top-1 drops .* more than the 1\.00% allowed"
    ) as refused:
        quantize(run, fp32, tmp_path / "bad-int8.onnx", calibration=GREY_FRAMES, allow_slower=True)
    assert (
        refused.value.comparison.int8_accuracy
        < refused.value.comparison.fp32_accuracy - MAX_ACCURACY_DROP
    )
    assert list(tmp_path.iterdir()) == []


def test_warn_only_writes_the_file_and_warns(run, fp32, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="visord.training.quantize"):
        result = quantize(
            run, fp32, tmp_path / "bad-int8.onnx", calibration=GREY_FRAMES, warn_only=True
        )
    assert result.path.is_file() and any("top-1 drops" in w for w in result.warnings)
    assert "int8 model kept although top-1 drops" in caplog.text
    assert load_manifest(result.path).training.validation_accuracy == pytest.approx(
        result.comparison.int8_accuracy
    )


def test_speed_decision_on_injected_timings():
    assert failed_checks(comparison(fp32_ms=10, int8_ms=5)) == []
    for slower in (comparison(fp32_ms=10, int8_ms=12), comparison(fp32_ms=10, int8_ms=10)):
        assert [p for p in failed_checks(slower) if "not faster than fp32 at batch 8" in p]
        with pytest.raises(QuantizationError, match="not faster") as refused:
            decide(slower)
        assert refused.value.comparison is slower
        assert decide(slower, allow_slower=True) == []
        assert len(decide(slower, warn_only=True)) == 1


def test_accuracy_decision_on_injected_numbers():
    # exactly one point
    assert failed_checks(comparison(10, 5, fp32_accuracy=0.90, int8_accuracy=0.89)) == []
    assert len(failed_checks(comparison(10, 5, fp32_accuracy=0.90, int8_accuracy=0.88))) == 1
    assert (
        failed_checks(comparison(10, 5, fp32_accuracy=0.90, int8_accuracy=0.88), max_drop=0.05)
        == []
    )
    both = decide(comparison(10, 20, 0.9, 0.5), warn_only=True)
    assert len(both) == 2 and "top-1 drops 40.00%" in both[0]


def test_table_shows_both_precisions_and_the_ratios():
    table = comparison(fp32_ms=10, int8_ms=5).table()
    assert (
        "fp32" in table
        and "int8" in table
        and "2.00x" in table
        and "top-1 agreement 99.00%" in table
    )


@pytest.mark.parametrize(
    ("fp32_accuracy", "int8_accuracy"),
    [(0.9, 0.9), (0.5, 0.5 + 1e-12), (0.3, 0.3 - 1e-12), (0.7, 0.7 + 0.00004)],
)
def test_table_never_prints_minus_zero(fp32_accuracy, int8_accuracy):
    table = comparison(10, 5, fp32_accuracy, int8_accuracy).table()
    assert "-0.00%" not in table
    assert table.splitlines()[-1].split()[1] == "+0.00%"
    drop = comparison(10, 5, 0.9, 0.9 + 1e-12)
    assert "top-1 drops 0.00%" in failed_checks(drop, max_drop=-1.0)[0]


def test_percent_drops_the_sign_of_a_zero_and_keeps_real_ones():
    assert [percent(v) for v in (-1e-9, -0.0, 0.0, 0.00004)] == ["0.00%"] * 4
    assert [percent(v, sign=True) for v in (-1e-9, 0.0)] == ["+0.00%", "+0.00%"]
    assert (percent(-0.005), percent(0.1234, sign=True), percent(-0.12, 1)) == (
        "-0.50%",
        "+12.34%",
        "-12.0%",
    )


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_makes_a_loadable_graph(name, run, fp32, tmp_path):
    pixels, _ = validation_images(load_source(run))
    out = tmp_path / f"{name}.onnx"
    quantize_file(fp32, out, pixels, RECIPES[name])
    probabilities = onnx_predict(out, pixels[:5])
    assert probabilities.shape == (5, 4) and np.all(np.isfinite(probabilities))


def test_default_path_is_beside_the_fp32_file(tmp_path):
    assert int8_path(tmp_path / "models" / "small.onnx") == tmp_path / "models" / "small-int8.onnx"
    assert DEFAULT.name in RECIPES


def test_cli_writes_fp32_and_int8_and_prints_the_table(run, tmp_path, capsys):
    out = tmp_path / "models" / "small.onnx"
    assert (
        main(["export", str(run), "--out", str(out), "--quantize", "int8", "--allow-slower"]) == 0
    )
    printed = capsys.readouterr().out
    assert (
        load_manifest(out).precision == "fp32"
        and load_manifest(tmp_path / "models" / "small-int8.onnx").precision == "int8"
    )
    assert "wrote" in printed and "top-1 agreement" in printed and "batch 8 ms" in printed


def test_cli_refuses_a_slower_int8_model_and_keeps_fp32(run, tmp_path, capsys, monkeypatch):
    import visord.training.quantize as quantize_module

    def int8_twice_as_slow(sessions, **_):
        return {"fp32": {1: 1.0, 8: 4.0}, "int8": {1: 2.0, 8: 8.0}}

    monkeypatch.setattr(quantize_module, "interleaved_latency", int8_twice_as_slow)
    out = tmp_path / "small.onnx"
    assert main(["export", str(run), "--out", str(out), "--quantize", "int8"]) == 65
    captured = capsys.readouterr()
    assert "not faster than fp32 at batch 8" in captured.err and "0.50x" in captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.onnx"]


def test_cli_unknown_recipe_is_refused_before_exporting(run, tmp_path, capsys):
    assert (
        main(
            [
                "export",
                str(run),
                "--out",
                str(tmp_path / "m.onnx"),
                "--quantize",
                "int8",
                "--int8-recipe",
                "fastest",
            ]
        )
        == 64
    )
    assert (
        "unknown --int8-recipe 'fastest'" in capsys.readouterr().err
        and list(tmp_path.iterdir()) == []
    )
