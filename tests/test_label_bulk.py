"""Bulk labelling and stacks of look-alike crops (issue 24), without a browser: `Labeller.bulk`
(one journal entry, all or nothing, undone whole, also after a restart), `visord.label.stacks`
(the collector's measure, the threshold, the orders) and their JSON API (`POST /api/bulk`,
`GET /api/stacks`) over real requests to 127.0.0.1."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from visord.contract.likeness import NOISE_LEVELS, WIDTH, changed_share
from visord.label.actions import MAX_BULK, Labeller
from visord.label.paths import Refused
from visord.label.sample import write_sample, write_scene
from visord.label.stacks import thumbnail
from visord.testing.label_server import STACKS_SCENE, journal, request, serving

SCENE = STACKS_SCENE  # two streams, a stack in each


def unlabelled(root) -> list[str]:
    return sorted(path.stem for path in root.glob("unlabelled/*/*.jpg"))


@pytest.fixture
def sample(tmp_path):
    root = tmp_path / "data"
    return root, write_sample(root, 8)


@pytest.fixture
def scene(tmp_path):
    root = tmp_path / "scene"
    return root, write_scene(root, SCENE)


def test_a_bulk_label_is_one_journal_entry_and_one_undo_after_a_restart(sample):
    root, records = sample
    names = [record.name for record in records[:5]]
    entry = Labeller(root).bulk("label", names, "people")
    assert (entry["action"], entry["class"], entry["count"]) == ("label-many", "people", 5)
    assert sorted(path.stem for path in (root / "people").iterdir()) == sorted(names)
    for name in names:
        assert (root / ".visord/records" / f"{name}.json").is_file()
    (line,) = journal(root)
    assert [crop["name"] for crop in line["crops"]] == names
    assert line["crops"][0]["to_path"] == f"people/{names[0]}.jpg"

    restarted = Labeller(root)  # the undo stack is replayed from the journal
    assert len(restarted.listing) == 3
    undone, undo = restarted.undo()
    assert undone["id"] == entry["id"] and undo["undoes"] == entry["id"]
    assert unlabelled(root) == sorted(record.name for record in records)
    assert list((root / "people").iterdir()) == []
    assert len(restarted.listing) == 8
    assert [crop["to_path"].split("/")[0] for crop in undo["crops"]] == ["unlabelled"] * 5
    with pytest.raises(Refused) as refused:
        Labeller(root).undo()
    assert refused.value.status == 409  # nothing left: the bulk action was one entry


def test_a_bulk_skip_and_delete_and_their_undo(sample):
    root, records = sample
    labeller = Labeller(root)
    first = [crop.name for crop in labeller.listing.page(0, 8)]
    labeller.bulk("skip", first[:3])
    assert [crop.name for crop in labeller.listing.page(0, 8)] == first[3:] + first[:3]
    again = Labeller(root)  # skipped crops stay at the back after a restart
    assert [crop.name for crop in again.listing.page(0, 8)] == first[3:] + first[:3]
    again.bulk("delete", first[3:5])
    assert sorted(path.stem for path in (root / ".visord/trash").iterdir()) == sorted(first[3:5])
    assert again.undo()[0]["action"] == "delete-many"
    assert again.undo()[0]["action"] == "skip-many"
    assert [crop.name for crop in again.listing.page(0, 8)] == first
    assert [line["action"] for line in journal(root)] == [
        "skip-many",
        "delete-many",
        "undo",
        "undo",
    ]


@pytest.mark.parametrize(
    ("action", "names", "class_name", "status"),
    [
        ("label", "not-a-list", "people", 400),
        ("label", [], "people", 400),
        ("label", ["../../etc/passwd"], "people", 400),
        ("label", [None], "people", 400),
        ("label", "twice", "people", 400),
        ("label", "one-missing", "people", 404),
        ("label", "all", "no-such-class", 404),
        ("label", "all", "../x", 400),
        ("move", "all", "people", 400),
    ],
)
def test_a_bulk_action_happens_whole_or_not_at_all(sample, action, names, class_name, status):
    root, records = sample
    listed = [record.name for record in records]
    chosen = {
        "twice": listed[:2] + listed[:1],
        "one-missing": listed[:3] + ["hall-20260301T080000-000-999999"],
        "all": listed,
    }
    names = chosen.get(names, names) if isinstance(names, str) else names
    labeller = Labeller(root)
    with pytest.raises(Refused) as refused:
        labeller.bulk(action, names, class_name)
    assert refused.value.status == status
    assert unlabelled(root) == sorted(listed)
    assert not (root / ".visord/labels.jsonl").exists()
    with pytest.raises(Refused):
        labeller.bulk("label", ["x"] * (MAX_BULK + 1), "people")


def test_a_bulk_entry_that_points_outside_the_data_set_is_not_undone(sample, tmp_path):
    root, records = sample
    names = [record.name for record in records[:2]]
    Labeller(root).bulk("label", names, "people")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"not yours")
    lines = journal(root)
    lines[0]["crops"][1]["from_path"] = "../outside.jpg"  # as if the journal had been edited
    lines[0]["crops"][0]["to_path"] = "people/../../outside.jpg"
    (root / ".visord/labels.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(Refused) as refused:
        Labeller(root).undo()
    assert refused.value.status == 409
    assert in_people(root) == sorted(names) and outside.read_bytes() == b"not yours"


def in_people(root) -> list[str]:
    return sorted(path.stem for path in (root / "people").iterdir())


def test_thumbnails_and_the_difference_are_the_collectors(scene):
    from visord.daemon.router.motion import shrink

    root, records = scene
    images = [
        cv2_image(root / "unlabelled" / record.stream / f"{record.name}.jpg") for record in records
    ]
    assert NOISE_LEVELS == 25.0 and WIDTH == 64
    for one, other in [(0, 1), (0, 5), (0, 6), (6, 7)]:
        theirs = changed_share(shrink(images[one], None), shrink(images[other], None), 25, False)
        jpegs = [
            (root / "unlabelled" / records[i].stream / f"{records[i].name}.jpg").read_bytes()
            for i in (one, other)
        ]
        ours = changed_share(thumbnail(jpegs[0]), thumbnail(jpegs[1]))
        assert ours == pytest.approx(theirs, abs=0.003)
    assert changed_share(np.zeros((48, 64)), np.zeros((64, 64))) == 1.0  # another size: all of it
    dark, light = np.full((4, 4), 10, np.uint8), np.full((4, 4), 200, np.uint8)
    assert changed_share(dark, light) == 1.0  # uint8 thumbnails compared as numbers, not wrapped


def cv2_image(path):
    import cv2

    return cv2.imread(str(path))


def test_look_alike_crops_of_a_stream_stack_and_the_threshold_and_orders(scene):
    root, records = scene
    labeller = Labeller(root)
    names = [record.name for record in records]

    def stacks(threshold, order="uncertain"):
        return [
            [crop.name for crop in stack.members]
            for stack in labeller.stacks(0, 50, threshold, order)[2]
        ]

    grouped = stacks(0.005)
    # The hall's six empty scenes (the speck too) in one stack, its cover the most uncertain;
    # the gate's two in another; each person alone. Stacks never cross streams.
    assert sorted(map(sorted, grouped)) == sorted(
        [sorted(names[:6]), sorted(names[8:10]), [names[6]], [names[7]], [names[10]]]
    )
    assert [stack[0] for stack in grouped] == [names[10], names[6], names[7], names[8], names[0]]
    assert labeller.stacks(0, 2, 0.005, "uncertain")[:2] == (5, 11)
    # Threshold 0: one crop a stack, in the listing's order; a tight threshold leaves the speck.
    assert stacks(0) == [[crop.name] for crop in labeller.listing.page(0, 11)]
    assert [names[5]] in stacks(0.001)
    # Least change first: the empty scenes, then the people; by stream: gate, then hall.
    by_change = stacks(0.005, "change")
    assert {by_change[0][0], by_change[1][0]} == {names[0], names[8]}
    assert [stack[0] for stack in stacks(0.005, "stream")] == [
        names[8],
        names[10],
        names[0],
        names[6],
        names[7],
    ]
    # A stack skipped whole goes last in every order.
    labeller.bulk("skip", names[8:10])
    for order in ("uncertain", "stream", "change"):
        assert stacks(0.005, order)[-1] == [names[8], names[9]]


def test_bulk_and_stacks_over_http(scene):
    root, records = scene
    names = [record.name for record in records]
    with serving(root) as server:
        status, _, page = request(server, "GET", "/api/stacks?limit=2")
        assert status == 200
        assert (page["total"], page["crops"], page["threshold"], page["order"]) == (
            5,
            11,
            0.005,
            "uncertain",
        )
        assert [len(stack["items"]) for stack in page["stacks"]] == [1, 1]
        status, _, page = request(server, "GET", "/api/stacks?threshold=0.005&order=change")
        (hall,) = [stack for stack in page["stacks"] if stack["count"] == 6]
        assert hall["id"] == hall["items"][0]["name"] == names[0]
        assert hall["items"][0]["url"] == f"/crops/hall/{names[0]}.jpg"
        for query in ("threshold=2", "threshold=-0.1", "threshold=nan", "threshold=x", "order=x"):
            status, _, answer = request(server, "GET", f"/api/stacks?{query}")
            assert status == 400 and "error" in answer, query

        # The hall's stack labelled with one request, then undone with one.
        members = [item["name"] for item in hall["items"]]
        body = {"action": "label", "names": members, "class": "empty"}
        status, _, answer = request(server, "POST", "/api/bulk", body)
        assert status == 200 and answer["action"]["action"] == "label-many"
        assert sorted(path.stem for path in (root / "empty").iterdir()) == sorted(members)
        status, _, page = request(server, "GET", "/api/stacks?threshold=0")
        assert page["total"] == 5
        status, _, answer = request(server, "POST", "/api/undo", {})
        assert status == 200 and answer["undone"]["action"] == "label-many"
        assert answer["action"]["count"] == 6
        assert list((root / "empty").iterdir()) == []

        # Refusals: JSON errors, nothing moved; a bulk body may be larger than a single one.
        for body, status_wanted in [
            ({"action": "label", "names": members, "class": "nope"}, 404),
            ({"action": "label", "names": ["../x"], "class": "empty"}, 400),
            ({"action": "label", "names": "x", "class": "empty"}, 400),
        ]:
            status, _, answer = request(server, "POST", "/api/bulk", body)
            assert (status, "error" in answer) == (status_wanted, True)
        long = {"action": "skip", "names": names * 40}  # about 20 kB: over a single's 4096
        status, _, answer = request(server, "POST", "/api/bulk", long)
        assert status == 400 and "twice" in answer["error"]
        status, _, _ = request(server, "POST", "/api/label", {"name": "x" * 5000})
        assert status == 413
        status, _, answer = request(
            server,
            "POST",
            "/api/bulk",
            {"action": "skip", "names": names[:2]},
            {"Origin": "http://evil.example"},
        )
        assert status == 403
    assert unlabelled(root) == sorted(names)
    assert [line["action"] for line in journal(root)] == ["label-many", "undo"]


def test_stacks_of_many_crops_are_quick_and_labelling_does_not_group_them_again(tmp_path):
    """1,000 crops of two streams, most a little different: the first grouping takes well under
    a few seconds; after a label the crops only leave their stacks (no new grouping)."""
    root = tmp_path / "many"
    crops = [
        (stream, f"person-{index % 70}" if index % 3 else "empty", 0.5 + (index % 50) / 100)
        for index in range(500)
        for stream in ("hall", "gate")
    ]
    write_scene(root, crops)
    labeller = Labeller(root)
    started = time.perf_counter()
    total, count, page, _ = labeller.stacks(0, 48, 0.005)
    first = time.perf_counter() - started
    assert count == 1000 and total < 1000
    gone = [crop.name for stack in page[:5] for crop in stack.members]
    labeller.bulk("label", gone, "people")
    started = time.perf_counter()
    total_after, _, page_after, _ = labeller.stacks(0, 48, 0.005)
    after = time.perf_counter() - started
    print(f"1,000 crops in {total} stacks: {first:.2f} s; after a label {after * 1000:.1f} ms")
    assert total_after == total - 5 and page_after[0].cover.name == page[5].cover.name
    assert first < 5 and after < 0.2
