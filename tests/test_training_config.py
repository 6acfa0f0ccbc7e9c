"""The training config: defaults, overrides, and errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from visord.cli import main
from visord.training.config import TrainingConfigError, dump_config, load_config, parse_config


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


@pytest.mark.parametrize(
    ("overrides", "steps", "epochs", "minutes"),
    [
        ([], 3000, 10, None),
        (["minutes=10"], None, 10, 10.0),  # ten minutes, not whichever of the two ends first
        (["epochs=5"], None, 5, None),
        (["epochs=5", "steps=100"], 100, 5, None),  # both given: the steps are the budget
        (["steps=200"], 200, 10, None),
    ],
)
def test_a_budget_on_the_command_line_replaces_the_files(
    tmp_path, overrides, steps, epochs, minutes
):
    config = load_config(write(tmp_path, "data: {path: images}\nsteps: 3000\n"), overrides)
    assert (config.steps, config.epochs, config.minutes) == (steps, epochs, minutes)


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
    with pytest.raises(TrainingConfigError) as error:
        load_config(write(tmp_path, text))
    first = str(error.value).splitlines()[0]
    assert first.startswith(f"{tmp_path / 'train.yaml'}: {expected}:"), first


def test_every_error_reported_at_once(tmp_path):
    with pytest.raises(TrainingConfigError) as error:
        load_config(write(tmp_path, "data: {path: x}\nepochs: 0\nbatch_size: -2\n"))
    assert len(str(error.value).splitlines()) == 2


def test_yaml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(TrainingConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: {path: [x\n"))
    with pytest.raises(TrainingConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_bad_override_syntax(tmp_path):
    with pytest.raises(TrainingConfigError, match="expected KEY=VALUE"):
        load_config(write(tmp_path, "data: {path: x}\n"), ["epochs"])


def test_a_misspelt_key_from_the_command_line_blames_the_option_and_says_did_you_mean(tmp_path):
    path = write(tmp_path, "data: {path: x}\n")
    with pytest.raises(TrainingConfigError) as error:
        load_config(path, ["optimizr.name=sgd"])
    assert str(error.value) == (
        "--set optimizr.name=sgd: optimizr: unknown key; did you mean 'optimizer'?"
    )
    assert error.value.command_line


def test_a_misspelt_key_in_the_file_blames_the_file(tmp_path):
    path = write(tmp_path, "data: {path: x}\noptimizer: {nme: sgd}\nbatchsize: 3\n")
    with pytest.raises(TrainingConfigError) as error:
        load_config(path, ["epochs=3"])
    assert str(error.value).splitlines() == [
        f"{path}: optimizer.nme: unknown key; did you mean 'name'?",
        f"{path}: batchsize: unknown key; did you mean 'batch_size'?",
    ]
    assert not error.value.command_line


def test_file_and_command_line_problems_each_name_their_place(tmp_path):
    path = write(tmp_path, "data: {path: x}\nepochs: many\n")
    with pytest.raises(TrainingConfigError) as error:
        load_config(path, ["optimizer.learning_rate=-1", "zzz=1"])
    lines = str(error.value).splitlines()
    assert len(lines) == 3
    in_file = (
        f"{path}: epochs: Input should be a valid integer, unable to parse string as an integer"
    )
    from_option = "--set optimizer.learning_rate=-1: optimizer.learning_rate: Input should be"
    assert in_file in lines
    assert f"{from_option} greater than 0" in lines
    assert [line for line in lines if line.startswith("--set zzz=1: zzz: unknown key; valid keys:")]
    assert not error.value.command_line  # the file is wrong too


def test_one_line_per_key_for_a_union_without_pydantics_member_labels():
    with pytest.raises(TrainingConfigError) as error:
        parse_config({"data": {"path": "x"}, "freeze_backbone": "sometimes"}, "t.yaml")
    (line,) = str(error.value).splitlines()
    assert line.startswith("t.yaml: freeze_backbone: Input should be a valid boolean")
    assert line.endswith("; Input should be 'auto'")


def test_setting_a_key_inside_a_value_names_the_option(tmp_path):
    with pytest.raises(TrainingConfigError) as error:
        load_config(write(tmp_path, "data: {path: x}\nepochs: 3\n"), ["epochs.max=4"])
    assert str(error.value) == (
        "--set epochs.max=4: epochs.max: epochs is a value (3), not a section with keys"
    )
    assert error.value.command_line


def test_an_override_value_that_is_not_yaml_is_named(tmp_path):
    with pytest.raises(
        TrainingConfigError, match=r"^--set epochs=\[3: the value is not valid YAML"
    ):
        load_config(write(tmp_path, "data: {path: x}\n"), ["epochs=[3"])


def test_cli_exit_status_64_for_the_command_line_78_for_the_file(tmp_path, capsys):
    path = write(tmp_path, "data: {path: x}\n")
    assert main(["train", "--config", str(path), "--set", "optimizr.name=sgd"]) == 64
    err = capsys.readouterr().err
    assert err == "--set optimizr.name=sgd: optimizr: unknown key; did you mean 'optimizer'?\n"
    assert str(path) not in err
    assert main(["train", "--config", str(path), "--epochs", "0"]) == 64
    assert capsys.readouterr().err.startswith("--epochs 0: epochs: Input should be greater")
    bad = write(tmp_path, "data: {path: x}\noptimizr: {name: sgd}\n")
    assert main(["train", "--config", str(bad), "--epochs", "2"]) == 78
    assert capsys.readouterr().err == (f"{bad}: optimizr: unknown key; did you mean 'optimizer'?\n")


def test_cli_without_a_config_names_bad_keys_and_the_missing_data(capsys):
    assert main(["train", "--set", "optimizr.name=sgd"]) == 64
    assert capsys.readouterr().err.splitlines() == [
        "--set optimizr.name=sgd: optimizr: unknown key; did you mean 'optimizer'?",
        "visord train: give --config FILE or at least --data FOLDER",
    ]
