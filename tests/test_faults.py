"""Fault injection (issue 8): every fault of `visord.testing.fault_lab` against real components,
once each.

For each one: the faulted stream goes down with a clear reason and recovers once its source is
mended (or, for faults it can ride through, keeps classifying), the two other streams keep
classifying with no error, stall or reconnect, and the runtime's loop never raises. Behaviour only:
the times and the frames lost are figures for `bench/faults.py`, never assertions.
"""

from __future__ import annotations

import pytest

from visord.testing.fault_lab import FAULTS, QUICK, FaultLab, FaultRun

OUTCOMES = {"recovers": "recovered", "streams": "streamed"}
# What some faults must show besides the common checks.
EXTRA = {
    "rtsp-resized": lambda run: (
        run.faulted_shape == (480, 640, 3)
    ),  # the new size reaches the engine
    "mjpeg-corrupt-frames": lambda run: (
        run.faulted_errors > 0 and run.faulted_reconnects == 0
    ),  # skipped, not cut
    "file-deleted": lambda run: run.faulted_reconnects == 0 and run.faulted_errors == 0,
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with FaultLab(tmp_path_factory.mktemp("faults"), QUICK) as lab:
        yield lab


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_a_fault_takes_down_its_own_stream_only(lab, fault):
    run: FaultRun = lab.run(fault)
    assert run.loop_error is None
    assert run.outcome == OUTCOMES[fault.outcome], run
    if fault.reasons:  # down with a reason that says what went wrong
        assert any(fragment in reason for reason in run.reasons for fragment in fault.reasons), (
            run.reasons
        )
    assert run.others_classified > 0 and run.others_errors == 0, run
    assert EXTRA.get(fault.name, lambda run: True)(run), run
