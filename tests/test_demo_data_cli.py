"""`visord demo-data`: one line saying what it wrote; refuses to write over an existing data set
with exit status 73, and --overwrite replaces it."""

from __future__ import annotations

import json

from visord.cli import main
from visord.contract import exitcodes
from visord.scenes import CLASSES


def _demo_data(out, *extra: str) -> int:
    return main(["demo-data", str(out), "--per-class", "2", "--clips", "0", "--size", "32", *extra])


def test_second_run_refuses_without_overwrite_and_replaces_with_it(tmp_path, capsys):
    out = tmp_path / "demo"
    assert _demo_data(out) == 0
    assert capsys.readouterr().out == (
        f"wrote {out}: train 8 images of 4 classes at 32x32, 0 clips; "
        f"the summary is {out / 'dataset.json'}\n"
    )
    assert json.loads((out / "dataset.json").read_text())["total"] == 2 * len(CLASSES)
    first = {path: path.read_bytes() for path in sorted(out.rglob("*.png"))}

    assert _demo_data(out, "--seed", "1") == exitcodes.CANTCREAT
    captured = capsys.readouterr()
    assert "--overwrite" in captured.err and str(out) in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    # left as it was
    assert {path: path.read_bytes() for path in sorted(out.rglob("*.png"))} == first

    assert _demo_data(out, "--seed", "1", "--per-class", "1", "--overwrite") == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: train 4 images")
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["seed"] == 1 and summary["total"] == len(CLASSES)
    for name in CLASSES:
        assert [path.name for path in (out / "train" / name).glob("*.png")] == ["00000.png"]
    assert (out / "train" / "person" / "00000.png").read_bytes() != first[
        out / "train" / "person" / "00000.png"
    ]
