"""The `visord` command line: help, listings, exit codes, options before or after the command."""

from __future__ import annotations

import json

import pytest

from visord.cli import build_parser, main
from visord.testing.cli import visord
from visord.testing.quadrants import write_quadrant_folder


def test_train_help_works():
    done = visord("train", "--help")
    assert done.returncode == 0
    assert "--config" in done.stdout and "--list-architectures" in done.stdout


def test_without_the_train_extra_it_says_what_to_install():
    hide_tensorflow = "sys.modules['tensorflow'] = None"
    for command in (["train", "--data", "x"], ["evaluate", "run", "data"]):
        done = visord(*command, python_prelude=hide_tensorflow)
        assert done.returncode == 69
        assert "make train-extra" in done.stderr and "pip install -e '.[train]'" in done.stderr
        assert "Traceback" not in done.stderr and "pip install 'visord" not in done.stderr


def test_list_architectures_shows_parameters_and_flops(capsys):
    assert main(["train", "--list-architectures", "--input-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "MFLOPs" in out
    for name in ("dnn", "mobilenet", "squeezenet", "transfer"):
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert int(row.split()[1].replace(",", "")) > 1000, row


def test_list_losses_and_optimizers(capsys):
    assert main(["train", "--list-losses", "--list-optimizers"]) == 0
    out = capsys.readouterr().out.split()
    assert {"mse", "categorical_crossentropy", "sgd", "adamw"} <= set(out)


def test_bad_config_exits_78_naming_the_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("data: {path: x}\noptimizer: {name: adam, learning_rate: zero}\n")
    assert main(["train", "--config", str(config)]) == 78
    assert f"{config}: optimizer.learning_rate:" in capsys.readouterr().err


def test_a_distillation_teacher_that_is_not_there_exits_78_naming_the_key(
    quadrants, tmp_path, capsys
):
    config = tmp_path / "student.yaml"
    config.write_text(
        f"data: {{path: {quadrants}, image_size: [24, 24]}}\nepochs: 1\n"
        f"output_dir: {tmp_path / 'runs'}\ndistill: {{teacher: {tmp_path / 'nowhere'}}}\n"
    )
    assert main(["train", "--config", str(config)]) == 78
    assert "distill.teacher: " in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_empty_data_folder_exits_65_with_the_reason(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path)]) == 65
    assert "no images found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cli_run(quadrants, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    args = [
        "--architecture",
        "dnn",
        "--set",
        "architecture_options={filters: 8, dense_units: 16}",
        "--set",
        "data.image_size=[32, 32]",
    ]
    assert (
        main(
            [
                "train",
                "--data",
                str(quadrants),
                "--epochs",
                "1",
                "--output",
                str(runs),
                "--quiet",
                *args,
            ]
        )
        == 0
    )
    (folder,) = runs.iterdir()
    return folder


def test_train_then_evaluate_a_subset_of_classes(cli_run, tmp_path, capsys):
    held_out = write_quadrant_folder(
        tmp_path / "held_out", per_class=3, seed=5, classes=("top_left", "top_right")
    )
    capsys.readouterr()
    assert main(["evaluate", str(cli_run), str(held_out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 6 and report["classes"][2:] == ["top_left", "top_right"]
    assert report["per_class"]["bottom_left"]["support"] == 0
    trained = sum(json.loads((cli_run / "data.json").read_text())["train"].values())
    assert [row["train_images"] for row in report["baselines"]] == [trained] * 3
    assert main(["evaluate", str(cli_run / "model.keras"), str(held_out)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "RBF SVM (HOG)" in printed


def test_evaluate_without_the_runs_training_data_says_why_there_are_no_baselines(
    cli_run, tmp_path, capsys
):
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("model.keras", "labels.json"):
        (alone / name).write_bytes((cli_run / name).read_bytes())
    held_out = write_quadrant_folder(tmp_path / "held_out", per_class=2, seed=6)
    capsys.readouterr()
    assert main(["evaluate", str(alone), str(held_out)]) == 0
    assert "no baselines: no config.yaml beside" in capsys.readouterr().out
    assert main(["evaluate", str(cli_run), str(held_out), "--no-baselines", "--json"]) == 0
    assert "baselines" not in json.loads(capsys.readouterr().out)


def test_evaluate_refuses_unknown_classes_and_missing_models(cli_run, tmp_path, capsys):
    write_quadrant_folder(tmp_path / "other", per_class=2, classes=("top_left", "top_right"))
    (tmp_path / "other" / "zebra").mkdir()
    (tmp_path / "other" / "zebra" / "z.png").write_bytes(
        (tmp_path / "other" / "top_left" / "000.png").read_bytes()
    )
    assert main(["evaluate", str(cli_run), str(tmp_path / "other")]) == 65
    assert "classes ['zebra'] that the model does not know" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), str(tmp_path / "other")]) == 65
    assert "no Keras model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "level", "log_format"),
    [
        (["run"], "INFO", "text"),
        (["--log-level", "DEBUG", "run"], "DEBUG", "text"),
        (["run", "--log-level", "debug", "--log-format", "json"], "DEBUG", "json"),
        (
            ["--log-level", "ERROR", "--log-format", "json", "run", "--log-level", "DEBUG"],
            "DEBUG",
            "json",
        ),
    ],
)
def test_logging_options_work_before_and_after_the_command(argv, level, log_format):
    args = build_parser().parse_args(argv)
    assert (args.log_level, args.log_format) == (level, log_format)


def test_an_unknown_log_level_after_the_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["check", "--log-level", "LOUD"])
    assert exit_info.value.code == 2 and "--log-level" in capsys.readouterr().err
