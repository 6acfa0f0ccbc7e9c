"""`visord models`: lists good models with their manifests and names what is wrong with the
others."""

from __future__ import annotations

import json
from pathlib import Path

from visord.cli import main
from visord.contract.manifest import load_manifest
from visord.testing.onnx_models import manifest_dict, tiny_classifier


def test_lists_models_and_refuses_bad_ones(tmp_path, capsys):
    tiny_classifier(tmp_path / "good.onnx", manifest_dict(name="front"))
    tiny_classifier(tmp_path / "bare.onnx", None)
    (tmp_path / "junk.onnx").write_text("not a model")
    assert main(["models", str(tmp_path)]) == 1
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4
    good = next(line for line in table if line.startswith("good.onnx"))
    assert "front" in good and "8x8x3" in good and "fp32" in good and "red, green, blue" in good
    assert "REFUSED" in next(line for line in table if line.startswith("bare.onnx"))
    assert "not a loadable ONNX model" in next(
        line for line in table if line.startswith("junk.onnx")
    )


def test_json_output_carries_the_whole_manifest(tmp_path, capsys):
    tiny_classifier(tmp_path / "good.onnx", manifest_dict())
    assert main(["models", str(tmp_path), "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["ok"] and entry["manifest"]["labels"] == ["red", "green", "blue"]
    assert entry["manifest"]["input"]["shape"] == [None, 8, 8, 3]


def test_one_file_or_several_paths(tmp_path, capsys):
    good = tiny_classifier(tmp_path / "good.onnx", manifest_dict(name="front"))
    (tmp_path / "sub").mkdir()
    tiny_classifier(tmp_path / "sub" / "other.onnx", manifest_dict(name="back"))
    assert main(["models", str(good)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["good.onnx"]
    assert main(["models", str(good), str(tmp_path / "sub")]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["good.onnx", "front"], ["other.onnx", "back"]]


def test_missing_path(tmp_path, capsys):
    assert main(["models", str(tmp_path / "nope")]) == 66
    assert f"{tmp_path / 'nope'}: no such file or folder" in capsys.readouterr().err


def test_a_model_with_an_operating_curve_says_so_under_its_row(capsys):
    shipped = Path(__file__).resolve().parent.parent / "models"
    assert main(["models", str(shipped / "pets-small.onnx"), str(shipped / "demo-small.onnx")]) == 0
    lines = capsys.readouterr().out.splitlines()
    pets = next(i for i, line in enumerate(lines) if line.startswith("pets-small.onnx"))
    curve = load_manifest(shipped / "pets-small.onnx").cascade_curve
    below = lines[pets + 1]
    assert below.startswith(" ") and f"cascade curve with {curve.partner}:" in below
    assert f"small {curve.small_accuracy:.3f}, large {curve.large_accuracy:.3f}" in below
    assert f"on {curve.images} images" in below
    demo = next(i for i, line in enumerate(lines) if line.startswith("demo-small.onnx"))
    assert demo + 1 == len(lines) or not lines[demo + 1].startswith(" ")
