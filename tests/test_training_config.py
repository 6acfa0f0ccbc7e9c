"""The training config: defaults, overrides, and errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from visord.training.config import ConfigError, dump_config, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    path = write(tmp_path, "data: {path: images}\narchitecture: mobilenet\n")
    config = load_config(
        path,
        ["optimizer.name=sgd", "optimizer.nesterov=true", "epochs=3", "data.image_size=[64, 48]"],
    )
    assert config.architecture == "mobilenet"
    assert config.optimizer.name == "sgd" and config.optimizer.nesterov is True
    assert config.epochs == 3 and config.data.image_size == (64, 48)
    assert config.loss.name == "sparse_categorical_crossentropy"


def test_resolved_config_round_trips(tmp_path):
    config = parse_config(
        {"data": {"path": "x"}, "augmentation": {"rotation_range": 15, "fill_mode": "reflect"}}
    )
    again = load_config(write(tmp_path, dump_config(config)))
    assert again == config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: {path: x}\noptimizer: {learning_rate: -1}\n", "optimizer.learning_rate"),
        ("data: {path: x}\nepochs: many\n", "epochs"),
        ("data: {path: x}\naugmentation: {fill_mode: mirror}\n", "augmentation.fill_mode"),
        ("data: {path: x}\nbatchsize: 3\n", "batchsize"),
        ("data: {path: x, image_size: [4, 4]}\n", "data.image_size"),
        ("epochs: 3\n", "data"),
        ("data: {path: x}\nname: 'has space'\n", "name"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    first = str(error.value).splitlines()[0]
    assert first.startswith(f"{tmp_path / 'train.yaml'}: {expected}:"), first


def test_every_error_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "data: {path: x}\nepochs: 0\nbatch_size: -2\n"))
    assert len(str(error.value).splitlines()) == 2


def test_yaml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: {path: [x\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_bad_override_syntax(tmp_path):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(write(tmp_path, "data: {path: x}\n"), ["epochs"])
