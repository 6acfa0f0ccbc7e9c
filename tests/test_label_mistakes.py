"""The model's mistakes shown back (issue 24, item 5), without a browser: the validation images a
run got wrong (`RUN/validation_predictions.json`, written here by `visord.label.sample.write_run`
as `visord.contract.predictions` says), each with where its file is now, the confusion matrix,
and relabelling or deleting them in place (`Labeller.relabel`: one journal entry, undone whole,
also after a restart), over the JSON API (`GET /api/mistakes`, `GET /labelled/...`, `POST
/api/relabel`) with its refusals."""

from __future__ import annotations

import json
import os

import pytest

from visord.label.actions import Labeller
from visord.label.paths import Refused
from visord.label.review import Review
from visord.label.sample import write_run
from visord.testing.label_server import MISTAKES_VALIDATION, journal, request, serving

VALIDATION = MISTAKES_VALIDATION


def files(root, folder: str) -> list[str]:
    return sorted(path.name for path in (root / folder).glob("*.jpg"))


@pytest.fixture
def run(tmp_path):
    root, run = tmp_path / "data", tmp_path / "run"
    write_run(root, run, VALIDATION)
    return root, Review.load(run, None)


def test_the_mistakes_come_surest_first_with_the_confusion_matrix(run):
    root, review = run
    view = review.mistakes_view(root)
    assert (view["images"], view["accuracy"], view["classes"]) == (6, 0.5, ["empty", "people"])
    assert view["confusion"] == [[1, 2], [1, 2]]  # rows: the class; columns: the model's answer
    assert view["wrong"] == 3
    assert [(m["path"], m["label"], m["answer"], m["score"]) for m in view["mistakes"]] == [
        ("empty/empty-02.jpg", "empty", "people", 0.9),
        ("people/people-04.jpg", "people", "empty", 0.8),
        ("empty/empty-01.jpg", "empty", "people", 0.6),
    ]
    first = view["mistakes"][0]
    assert (first["now"], first["class"], first["url"]) == (
        "empty/empty-02.jpg",
        "empty",
        "/labelled/empty/empty-02.jpg",
    )


def test_a_relabel_moves_the_file_and_is_undone_whole_after_a_restart(run):
    root, review = run
    entry = Labeller(root).relabel(["empty/empty-02.jpg", "empty/empty-01.jpg"], "people")
    assert (entry["action"], entry["class"], entry["count"]) == ("relabel", "people", 2)
    assert [crop["was"] for crop in entry["crops"]] == ["empty", "empty"]
    assert files(root, "empty") == ["empty-00.jpg"]
    assert "empty-02.jpg" in files(root, "people")
    # The view follows the file: now in people, which is the model's answer.
    now = {m["path"]: (m["now"], m["class"]) for m in review.mistakes_view(root)["mistakes"]}
    assert now["empty/empty-02.jpg"] == ("people/empty-02.jpg", "people")

    # Deleted: to the trash, and gone from the view.
    deleted = Labeller(root).relabel(["people/people-04.jpg"], None)
    assert deleted["action"] == "delete-labelled" and deleted["class"] is None
    assert (root / ".visord/trash/people-04.jpg").is_file()
    assert review.mistakes_view(root)["mistakes"][1]["now"] is None

    again = Labeller(root)  # restarted: the delete, then the relabel, undone
    assert again.undo()[0]["action"] == "delete-labelled"
    assert "people-04.jpg" in files(root, "people")
    undone, undo = again.undo()
    assert undone["id"] == entry["id"] and undo["count"] == 2
    assert files(root, "empty") == ["empty-00.jpg", "empty-01.jpg", "empty-02.jpg"]
    assert [line["action"] for line in journal(root)] == [
        "relabel",
        "delete-labelled",
        "undo",
        "undo",
    ]


@pytest.mark.parametrize(
    ("paths", "class_name", "status", "words"),
    [
        (["empty/empty-01.jpg"], "empty", 409, "labelled empty already"),
        (["empty/empty-01.jpg"], "bicycle", 404, "no class 'bicycle'"),
        (["empty/nothing.jpg"], "people", 404, "not found"),
        (["empty/../people/people-03.jpg"], "people", 400, "bad path component"),
        (["../etc/passwd.jpg"], "people", 400, "cannot be a class"),
        (["unlabelled/hall/x.jpg"], "people", 400, "cannot be a class"),
        ([".visord/trash/x.jpg"], "people", 400, "cannot be a class"),
        (["empty/config.yaml"], "people", 400, "not an image file"),
        (["empty"], "people", 400, "not <class>/<file>"),
        ([7], "people", 400, "must be a string"),
        ("empty/empty-01.jpg", "people", 400, "a list of 1 to"),
        (["empty/empty-01.jpg", "empty/empty-01.jpg"], "people", 400, "named twice"),
        (["empty/empty-01.jpg", "empty/nothing.jpg"], "people", 404, "not found"),
    ],
)
def test_a_relabel_is_refused_whole(run, paths, class_name, status, words):
    root, _ = run
    with pytest.raises(Refused) as refused:
        Labeller(root).relabel(paths, class_name)
    assert refused.value.status == status and words in refused.value.message
    assert files(root, "empty") == ["empty-00.jpg", "empty-01.jpg", "empty-02.jpg"]
    assert not (root / ".visord/labels.jsonl").exists()


def test_a_symlink_in_a_class_folder_is_neither_served_nor_moved(run, tmp_path):
    root, review = run
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    os.symlink(secret, root / "empty" / "link.jpg")
    with pytest.raises(Refused) as refused:
        Labeller(root).relabel(["empty/link.jpg"], "people")
    assert refused.value.status == 403
    with serving(root, review) as server:
        status, _, body = request(server, "GET", "/labelled/empty/link.jpg")
        assert status == 403 and "symlink" in body["error"]
    assert secret.read_bytes() == b"not yours" and (root / "empty/link.jpg").is_symlink()


def test_the_json_api_shows_relabels_and_undoes(run, tmp_path):
    root, review = run
    with serving(root, review) as server:
        status, _, view = request(server, "GET", "/api/mistakes")
        assert status == 200 and len(view["mistakes"]) == 3 and view["run"] == "run"
        status, headers, image = request(server, "GET", view["mistakes"][0]["url"])
        assert (
            status == 200 and headers["Content-Type"] == "image/jpeg" and image[:2] == b"\xff\xd8"
        )
        for path in ("/labelled/empty/..%2Fx.jpg", "/labelled/empty/%2e%2e/x.jpg"):
            assert request(server, "GET", path)[0] == 400
        assert request(server, "GET", "/labelled/unlabelled/hall/x.jpg")[0] == 400
        assert request(server, "GET", "/labelled/empty/missing.jpg")[0] == 404

        body = {"paths": ["empty/empty-02.jpg"], "class": "people"}
        status, _, answer = request(server, "POST", "/api/relabel", body)
        assert status == 200 and answer["action"]["action"] == "relabel"
        assert (root / "people/empty-02.jpg").is_file()
        status, _, view = request(server, "GET", "/api/mistakes")
        assert view["mistakes"][0]["url"] == "/labelled/people/empty-02.jpg"
        status, _, answer = request(server, "POST", "/api/relabel", body)
        assert status == 404  # it is not in empty/ any more
        status, _, answer = request(server, "POST", "/api/undo", {})
        assert status == 200 and answer["undone"]["action"] == "relabel"
        assert (root / "empty/empty-02.jpg").is_file()
        status, _, answer = request(server, "POST", "/api/relabel", {"paths": ["empty/x.png"]})
        assert status == 404  # class null: to the trash; but no such file

    empty = tmp_path / "empty-data"
    (empty / "unlabelled").mkdir(parents=True)
    with serving(empty, None) as server:  # no --run: nothing to show
        status, _, body = request(server, "GET", "/api/mistakes")
        assert status == 404 and "--run" in body["error"]


def test_a_run_with_many_mistakes_shows_the_surest_500(tmp_path):
    images = [
        {"path": f"empty/e{i}.jpg", "label": "empty", "scores": [0.4 - i / 10000, 0.6 + i / 10000]}
        for i in range(600)
    ]
    path = tmp_path / "validation_predictions.json"
    path.write_text(json.dumps({"dataset": "d", "classes": ["empty", "people"], "images": images}))
    (tmp_path / "data" / "empty").mkdir(parents=True)
    view = Review.load(path, None).mistakes_view(tmp_path / "data")
    assert view["wrong"] == 600 and len(view["mistakes"]) == 500
    assert view["mistakes"][0]["path"] == "empty/e599.jpg" and view["mistakes"][0]["now"] is None
