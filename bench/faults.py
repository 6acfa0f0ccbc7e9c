"""Fault injection figures: each fault of visord/testing/fault_lab.py injected several times, the
medians in a table.

The daemon's runtime reads two steady streams (a real RTSP camera, a looping H.264 file) and the
stream under test, all at 5 classified frames per second with a tiny ONNX model; each fault is
injected, held, and mended (see visord/testing/fault_lab.py for the faults and the definitions of
detection, recovery and frames lost). By default the readers run with the daemon's own open timeout
and backoff and `stall_timeout: 2` in the streams' config; `--quick` uses the test suite's short
ones. The ratio column is the other streams' classified rate during the fault over their rate just
before it, measured in the same run (the slowest of them; 1.00 = untouched).

    python -m bench.faults [--repeats 5] [--quick] [--faults rtsp-killed,rtsp-frozen]

A benchmark, not a test: it prints a table and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.harness import ROOT, figure
from visord.testing.fault_lab import BY_NAME, DAEMON, QUICK, Fault, FaultLab, FaultRun

HEADER = (
    f"{'fault':<21} {'what happened':<56} {'detect s':>8} {'recovery s':>10} {'lost':>5} "
    f"{'lost others':>11} {'others rate':>11}"
)


def median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def happened(fault: Fault, runs: list[FaultRun]) -> str:
    """e.g. "down (stalled), recovered 5/5": the outcome of each run and the reasons that
    matched."""
    seen = [
        fragment
        for fragment in fault.reasons
        if any(fragment in r for run in runs for r in run.reasons)
    ]
    outcomes = {
        outcome: sum(run.outcome == outcome for run in runs)
        for outcome in ("recovered", "down", "streamed")
    }
    counted = ", ".join(
        f"{outcome} {count}/{len(runs)}" for outcome, count in outcomes.items() if count
    )
    return f"down ({'; '.join(seen) or '?'}), {counted}" if seen else counted


def summary(fault: Fault, runs: list[FaultRun]) -> dict:
    """One row of the table: medians over the runs, the worst of the other streams."""
    return {
        "fault": fault.name,
        "what": fault.what,
        "happened": happened(fault, runs),
        "detect_s": median([r.detect_s for r in runs]),
        "recovery_s": median([r.recovery_s for r in runs]),
        "lost": median([r.lost_faulted for r in runs]),
        "lost_others": max(r.lost_others for r in runs),
        "others_rate": min(r.others_rate_ratio for r in runs),
    }


def row(line: dict) -> str:
    return (
        f"{line['fault']:<21} {line['happened']:<56} {figure(line['detect_s']):>8} "
        f"{figure(line['recovery_s']):>10} {figure(line['lost'], 0):>5} {line['lost_others']:>11} "
        f"{figure(line['others_rate']):>11}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="the test suite's short timeouts and backoff"
    )
    parser.add_argument("--faults", default=",".join(BY_NAME), help="comma-separated fault names")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the readers' state lines would bury the table
    faults = [BY_NAME[name] for name in args.faults.split(",")]
    timing = QUICK if args.quick else DAEMON
    results: dict[str, list[FaultRun]] = {}
    with tempfile.TemporaryDirectory() as folder, FaultLab(Path(folder), timing) as lab:
        for fault in faults:
            results[fault.name] = [lab.run(fault) for _ in range(args.repeats)]
            print(f"{fault.name}: {[run.outcome for run in results[fault.name]]}", flush=True)
    print(
        f"\nfaults, median of {args.repeats} (stall_timeout {timing.stall_timeout:g} s, open "
        f"timeout {timing.open_timeout:g} s, backoff {timing.backoff[0]:g}-{timing.backoff[1]:g} "
        f"s, fault held {timing.hold:g} s; lost = classifications missed at 5 fps; "
        "others rate = during / before, slowest)"
    )
    lines = [summary(fault, results[fault.name]) for fault in faults]
    print(HEADER)
    for line in lines:
        print(row(line))
    escaped = [run.loop_error for runs in results.values() for run in runs if run.loop_error]
    print(f"runtime loop errors: {len(escaped)}" + (f" ({escaped[0]})" if escaped else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faults.json").write_text(
        json.dumps(
            {
                "timing": asdict(timing),
                "repeats": args.repeats,
                "table": lines,
                "runs": {name: [asdict(run) for run in runs] for name, runs in results.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
