"""bench/teach.py's person at the label page (its round 1 in actions): it labels every stack of a
scene through the page's own API, counts each click and key, and pays for an order only when it is
not the one the page starts on (most uncertain first for this camera's suggestions, least change
first for another model's)."""

from __future__ import annotations

import shutil

import pytest

from bench import teach
from visord.contract.dataset import RECORD_SUFFIX, UNLABELLED, Answer, record_bytes
from visord.label.sample import write_scene
from visord.label.stacks import DEFAULT_THRESHOLD, ORDERS
from visord.testing.label_server import STACKS_SCENE


@pytest.mark.parametrize(
    ("suggestions", "page_order"), [("this camera's", "uncertain"), ("another model's", "change")]
)
def test_the_person_labels_a_scene_in_bulk_and_pays_only_for_an_order_the_page_did_not_pick(
    tmp_path, suggestions, page_order
):
    crops = tmp_path / "crops"
    records = write_scene(crops, STACKS_SCENE)
    if suggestions == "another model's":  # labels that are not the data set's classes
        for record in records:
            answer = Answer(model="demo", label="person", score=record.answers[0].score)
            other = record.model_copy(update={"answers": (answer,)})
            path = crops / UNLABELLED / record.stream / f"{record.name}{RECORD_SUFFIX}"
            path.write_bytes(record_bytes(other))
    truth = {
        record.name: "people" if what.startswith("person-") else "empty"
        for record, (_, what, _) in zip(records, STACKS_SCENE, strict=True)
    }
    runs = {}
    for order in ORDERS:
        work = shutil.copytree(crops, tmp_path / order)
        runs[order] = teach.simulate_person(work, truth, DEFAULT_THRESHOLD, order)

    assert [order for order, run in runs.items() if run["automatic"]] == [page_order]
    for run in runs.values():
        assert run["keys"]["settings"] == (0 if run["automatic"] else teach.ORDER_ACTIONS)
        assert run["actions"] == sum(run["keys"].values())
        assert run["agreement"] == 1.0 and run["wrong_class"] == 0 and run["left_unlabelled"] == 0
        # the look-alike empty crops go as two stacks: fewer actions than one key a crop
        assert run["actions"] < len(truth)
