"""Accepting the model where it is sure (issue 24, item 3), without a browser: `Labeller.accept`
(each crop labelled with its suggestion, one journal entry, all or nothing, undone whole after a
restart), the curve beside it (`visord.label.review`: what share of the run's validation images
scoring at least S the model got right, on the daemon's calibrated scale), their JSON API
(`POST /api/accept`, `GET /api/model`), the page's automatic order, and `visord label --run
--model` on the command line."""

from __future__ import annotations

import numpy as np
import pytest

from visord.cli import main
from visord.contract import exitcodes
from visord.contract.predictions import PredictionsError, read_predictions
from visord.contract.scores import to_scores
from visord.label.actions import Labeller
from visord.label.paths import Refused
from visord.label.review import Review, ReviewError
from visord.label.sample import write_run, write_scene
from visord.testing.label_server import in_folder, journal, request, serving
from visord.testing.onnx_models import manifest_dict, tiny_classifier

# Suggestions of a model of this camera: sure of the empty scenes, less of the people.
SCENE = [
    ("hall", "empty", 0.97),
    ("hall", "empty", 0.95),
    ("hall", "person-10", 0.92),
    ("hall", "person-50", 0.6),
    ("gate", "empty", 0.85),
    ("gate", "person-30", 0.5),
]
# The run's validation images: (class, the network's scores for empty and people).
VALIDATION = [
    ("empty", (0.99, 0.01)),
    ("empty", (0.96, 0.04)),
    ("empty", (0.7, 0.3)),
    ("empty", (0.4, 0.6)),  # wrong, unsure
    ("people", (0.02, 0.98)),
    ("people", (0.08, 0.92)),
    ("people", (0.45, 0.55)),
    ("people", (0.93, 0.07)),  # wrong, sure
]


@pytest.fixture
def scene(tmp_path):
    root = tmp_path / "data"
    return root, [record.name for record in write_scene(root, SCENE)]


def model_file(tmp_path, temperature: float | None):
    calibration = (
        None
        if temperature is None
        else {"temperature": temperature, "ece_before": 0.1, "ece_after": 0.05, "images": 8}
    )
    manifest = manifest_dict(
        labels=("empty", "people"),
        output={"name": "predictions", "kind": "probabilities", "calibration": calibration},
    )
    return tiny_classifier(tmp_path / "camera.onnx", manifest, classes=2, channels=3)


def test_accept_labels_each_crop_with_its_suggestion_in_one_entry_undone_after_a_restart(scene):
    root, names = scene
    sure = [names[0], names[1], names[2], names[4]]  # scores 0.97, 0.95, 0.92, 0.85
    entry = Labeller(root).accept(sure, 0.85)
    assert (entry["action"], entry["count"], entry["threshold"]) == ("accept-many", 4, 0.85)
    assert [crop["class"] for crop in entry["crops"]] == ["empty", "empty", "people", "empty"]
    assert in_folder(root, "empty") == sorted([names[0], names[1], names[4]])
    assert in_folder(root, "people") == [names[2]]
    assert sorted(p.stem for p in (root / ".visord/records").glob("*.json")) == sorted(sure)

    again = Labeller(root)  # a restarted server undoes it whole
    undone, undo = again.undo()
    assert undone["id"] == entry["id"] and undo["count"] == 4
    assert in_folder(root, "empty") == in_folder(root, "people") == []
    total, page = again.page(0, 10)
    assert total == 6 and {crop.name for crop, _ in page} == set(names)
    assert [line["action"] for line in journal(root)] == ["accept-many", "undo"]


@pytest.mark.parametrize(
    ("names", "threshold", "status", "words"),
    [
        (lambda n: [n[0], n[3]], 0.9, 409, "scores 0.600, below 0.9"),
        (lambda n: [n[0]], 0, 400, "above 0"),
        (lambda n: [n[0]], 1.5, 400, "at most 1"),
        (lambda n: [n[0]], "0.9", 400, "a number"),
        (lambda n: [n[0]], True, 400, "a number"),
        (lambda n: [], 0.9, 400, "a list of 1 to"),
        (lambda n: [n[0], n[0]], 0.9, 400, "named twice"),
        (lambda n: ["../../etc"], 0.9, 400, "not a crop name"),
    ],
)
def test_accept_is_refused_whole(scene, names, threshold, status, words):
    root, crops = scene
    with pytest.raises(Refused) as refused:
        Labeller(root).accept(names(crops), threshold)
    assert refused.value.status == status and words in refused.value.message
    assert in_folder(root, "empty") == [] and not (root / ".visord/labels.jsonl").exists()


def test_accept_refuses_a_suggestion_that_is_no_class_here(scene):
    root, names = scene
    (root / "people").rmdir()
    with pytest.raises(Refused) as refused:
        Labeller(root).accept([names[0], names[2]], 0.9)
    assert refused.value.status == 409
    assert "the model suggests 'people', which is not a class here" in refused.value.message
    assert in_folder(root, "empty") == []


def test_the_curve_is_measured_on_the_run_and_calibrated_with_the_model(tmp_path):
    run = tmp_path / "run"
    write_run(tmp_path / "data", run, VALIDATION)
    plain = Review.load(run, None).model_info()
    assert (plain["images"], plain["accuracy"], plain["mistakes"]) == (8, 0.75, 2)
    assert plain["calibrated"] is False and len(plain["curve"]) == 101
    at = {point["threshold"]: point for point in plain["curve"]}
    # At least 0.9: 0.99, 0.96, 0.98, 0.92 and the wrong 0.93: 4 right of 5.
    assert at[0.9] == {"threshold": 0.9, "images": 5, "share": 0.625, "right": 0.8}
    assert at[0.0]["images"] == 8 and at[0.0]["right"] == 0.75
    assert at[1.0] == {"threshold": 1.0, "images": 0, "share": 0.0, "right": None}

    # With the model file: its temperature (2: softer) applies first, as in the daemon.
    review = Review.load(run, model_file(tmp_path, 2.0))
    info = review.model_info()
    assert info["calibrated"] is True and info["temperature"] == 2.0 and info["name"] == "tiny"
    raw = np.array([scores for _, scores in VALIDATION])
    top = to_scores(raw, "probabilities", 2.0).max(axis=-1)
    right = np.array([True, True, True, False, True, True, True, False])
    for point in info["curve"]:
        above = top >= point["threshold"] - 1e-9
        assert point["images"] == above.sum()
        expected = None if not above.any() else round(float(right[above].mean()), 4)
        assert point["right"] == expected


def test_a_model_whose_labels_are_not_the_runs_is_refused(tmp_path):
    run = tmp_path / "run"
    write_run(tmp_path / "data", run, VALIDATION)
    other = tiny_classifier(tmp_path / "other.onnx", manifest_dict(labels=("a", "b", "c")))
    with pytest.raises(ReviewError, match=r"the model's labels \(a, b, c\) are not the run's"):
        Review.load(run, other)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not JSON"),
        ('{"dataset": "d", "classes": ["a", "b"], "images": []', "not JSON"),
        (
            '{"dataset": "d", "classes": ["a", "b"], "images": '
            '[{"path": "a/x.jpg", "label": "c", "scores": [0.5, 0.5]}]}',
            "'c' is not one of the classes",
        ),
        (
            '{"dataset": "d", "classes": ["a", "b"], "images": '
            '[{"path": "b/x.jpg", "label": "a", "scores": [0.5, 0.5]}]}',
            "must be <label>/<file>",
        ),
        (
            '{"dataset": "d", "classes": ["a", "b"], "images": '
            '[{"path": "a/../x.jpg", "label": "a", "scores": [0.5, 0.5]}]}',
            "must be <label>/<file>",
        ),
        (
            '{"dataset": "d", "classes": ["a", "b"], "images": '
            '[{"path": "a/x.jpg", "label": "a", "scores": [0.5, 0.2, 0.3]}]}',
            "2 numbers needed",
        ),
    ],
)
def test_a_predictions_file_that_breaks_the_format_is_refused(tmp_path, text, words):
    path = tmp_path / "validation_predictions.json"
    path.write_text(text)
    with pytest.raises(PredictionsError, match=words):
        read_predictions(tmp_path)  # a run folder: its file


def test_the_json_api_accepts_and_shows_the_curve(tmp_path, scene):
    root, names = scene
    run = tmp_path / "run"
    write_run(tmp_path / "elsewhere", run, VALIDATION)
    with serving(root, Review.load(run, model_file(tmp_path, 1.0))) as server:
        status, _, info = request(server, "GET", "/api/model")
        assert status == 200 and info["run"] == "run" and info["model"] == "camera.onnx"
        assert info["curve"][90]["right"] == 0.8
        status, _, body = request(
            server, "POST", "/api/accept", {"names": names[:3], "threshold": 0.9}
        )
        assert status == 200 and body["action"]["action"] == "accept-many"
        status, _, body = request(
            server, "POST", "/api/accept", {"names": names[3:4], "threshold": 0.9}
        )
        assert status == 409 and "below 0.9" in body["error"]
        status, _, body = request(server, "POST", "/api/accept", {"names": names[4:5]})
        assert status == 400 and "threshold must be a number" in body["error"]
        status, _, body = request(server, "POST", "/api/undo", {})
        assert status == 200 and body["undone"]["action"] == "accept-many"
        assert body["action"]["count"] == 3
    assert in_folder(root, "empty") == in_folder(root, "people") == []

    with serving(root) as server:  # no --run, no --model: the page says it was not measured
        status, _, info = request(server, "GET", "/api/model")
        assert status == 200 and info["curve"] is None and info["images"] is None


def test_the_automatic_order_is_least_change_first_until_a_model_of_these_classes_answers(
    tmp_path, scene
):
    root, names = scene
    # Every suggestion (empty, people) is a class here: the model's doubts order the page.
    assert Labeller(root).default_order == "uncertain"
    with serving(root) as server:
        status, _, page = request(server, "GET", "/api/stacks?threshold=0")
        assert status == 200 and page["order"] == "uncertain"
        assert page["stacks"][0]["id"] == names[5]  # 0.5, the least sure
        status, _, page = request(server, "GET", "/api/stacks?threshold=0&order=stream")
        assert page["order"] == "stream"
        status, _, page = request(server, "GET", "/api/stacks?order=sideways")
        assert status == 400 and "auto, uncertain" in page["error"]
    # No classes yet (round 1), or a model with other labels: least change first.
    (root / "people").rmdir()
    assert Labeller(root).default_order == "change"
    fresh = tmp_path / "fresh"
    write_scene(fresh, SCENE, classes=())
    assert Labeller(fresh).default_order == "change"


def test_the_command_line_takes_a_run_and_a_model(tmp_path, capsys):
    write_scene(tmp_path / "data", SCENE)
    data = str(tmp_path / "data")
    assert main(["label", data, "--run", str(tmp_path / "nothing")]) == exitcodes.NOINPUT
    assert "--run " in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    assert main(["label", data, "--run", str(tmp_path / "run")]) == exitcodes.DATAERR
    assert "validation_predictions.json: no such file" in capsys.readouterr().err
    write_run(tmp_path / "data", tmp_path / "run", VALIDATION)
    other = tiny_classifier(tmp_path / "other.onnx", manifest_dict(labels=("a", "b", "c")))
    code = main(["label", data, "--run", str(tmp_path / "run"), "--model", str(other)])
    assert code == exitcodes.DATAERR
    assert "are not the run's classes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--run RUN", "--model MODEL", "accept", "least change first", "one action"):
        assert words in text
    assert "one key press or click" not in text
