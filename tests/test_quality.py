"""Training quality on real data: the classic CNN on scikit-learn's digits
(config/train-digits.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from visord.training.config import load_config
from visord.training.digits import write_digits_folder
from visord.training.train import train

CONFIG = Path(__file__).resolve().parent.parent / "config" / "train-digits.yaml"


@pytest.mark.slow
def test_dnn_reaches_97_percent_on_digits(tmp_path):
    data = write_digits_folder(tmp_path / "digits")
    config = load_config(CONFIG, [f"data.path={data}", f"output_dir={tmp_path / 'runs'}"])
    result = train(config, verbose=0)
    # A stratified 20 % of 1,797 images, rounded per class.
    assert abs(result.report["samples"] - 0.2 * 1797) <= 10
    assert result.report["accuracy"] >= 0.97, result.report["accuracy"]
