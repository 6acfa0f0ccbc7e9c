"""bench/load.py's search and its decode-only measurement: the count search starts where it is told
and still finds a count below its start, and decoding alone is measured on real threads playing a
real H.264 file in real time."""

from __future__ import annotations

from dataclasses import dataclass

import bench.load as bench_load
from visord.testing.media import write_h264


@dataclass
class Result:
    streams: int
    sustained: bool


def up_to(limit: int, tried: list[int]):
    def run(count: int) -> Result:
        tried.append(count)
        return Result(count, count <= limit)

    return run


def test_the_search_doubles_from_its_start_then_bisects():
    tried: list[int] = []
    found, trials = bench_load.largest(up_to(37, tried), 128, start=20)
    assert found == 37
    assert tried[:2] == [20, 40] and 1 not in tried
    assert [t.streams for t in trials] == tried


def test_a_start_too_high_searches_below_it_and_keeps_every_trial():
    tried: list[int] = []
    found, trials = bench_load.largest(up_to(5, tried), 128, start=50)
    assert found == 5
    assert tried[0] == 50 and tried[1] == 1
    assert [t.streams for t in trials] == tried


def test_decoding_alone_counts_each_streams_frames_in_real_time(tmp_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=30, fps=15)
    slowest, cores = bench_load.decode_only(str(clip), 3, False, settle=0.5, measure=2.0)
    # each of 3 threads plays the 2-second clip at its own rate, looped: about 15 frames a second
    assert 12 <= slowest <= 16.5
    assert 0 < cores < 1.5
    trial = bench_load.DecodeTrial(3, slowest, cores, decoded_due=15.0, measure=2.0)
    assert trial.sustained
    assert not bench_load.DecodeTrial(3, 12.0, cores, decoded_due=15.0, measure=2.0).sustained
