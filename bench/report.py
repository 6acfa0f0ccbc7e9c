"""Writes bench/RESULTS.md (tables, targets met or missed by how much) and bench/charts/*.png from
bench/out/*.json.

Reads what the other scripts of `make bench` wrote in one run; a script that did
not run leaves its section out and says so.

    python -m bench.report [--out bench/out] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

# charts drawn on figures of their own, never through pyplot: no display backend to choose
from matplotlib.figure import Figure

from bench.harness import ROOT, figure
from bench.models import row_peak
from visord.contract.latency import cpu_name


def load(out: Path, name: str) -> dict | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else f"missed by {abs(value - target) / target:.0%}"


def int8_target(row: dict, fp32: dict) -> list[str]:
    """The int8 target (>= 1.5x fp32, <= 1 point of top-1) for one model, at each batch size and on
    each split."""
    speed = {batch: fp32[f"ort_b{batch}_ms"] / row[f"ort_b{batch}_ms"] for batch in (1, 8)}
    drops = {"val": 100 * (fp32["val_accuracy"] - row["val_accuracy"])}
    if "hard_accuracy" in row:
        drops["hard"] = 100 * (fp32["hard_accuracy"] - row["hard_accuracy"])
    fast = [f"batch {batch}" for batch, value in speed.items() if value >= 1.5]
    held = [split for split, drop in drops.items() if drop <= 1.0]
    verdict = (
        f"speed met at {', '.join(fast) or 'neither batch'}; accuracy held on "
        f"{', '.join(held) or 'neither split'}"
        if fast != ["batch 1", "batch 8"] or len(held) != len(drops)
        else "met"
    )
    measured = (
        ", ".join(f"b{batch} {value:.2f}x" for batch, value in speed.items())
        + "; top-1 "
        + ", ".join(f"{-drop:+.1f} ({split})" for split, drop in drops.items())
    )
    return [f"int8 vs fp32, {row['file']}", "≥ 1.5x, ≤ 1 point", measured, verdict]


def models_section(data: dict, charts: Path) -> tuple[str, list[list[str]]]:
    rows = []
    targets = []
    by_file = {row["file"]: row for row in data["rows"]}
    for row in data["rows"]:
        paths = [
            ("Keras predict", row.get("keras_predict_ms")),
            ("Keras call", row.get("keras_call_ms")),
            ("onnxruntime b1", row["ort_b1_ms"]),
            ("onnxruntime b8", row["ort_b8_ms"]),
        ]
        predict = by_file.get(row["file"].replace("-int8", ""), {}).get("keras_predict_ms")
        peak = row_peak(row, data["peak_gflops"], data["int8_factor"])
        for name, ms in paths:
            if ms is None:
                continue
            rows.append(
                [
                    row["file"],
                    row["precision"],
                    f"{row['parameters']:,}",
                    f"{row['mflops']:.0f}",
                    f"{row['val_accuracy']:.3f}",
                    f"{row.get('hard_accuracy', float('nan')):.3f}",
                    name,
                    f"{ms:.2f}",
                    f"{1000 / ms:.0f}",
                    f"{predict / ms:.1f}" if predict else "",
                    f"{100 * row['mflops'] / ms / peak:.1f}%",
                ]
            )
        if row["precision"] == "fp32" and predict:
            speedup = predict / row["ort_b1_ms"]
            targets.append(
                [
                    "onnxruntime b1 vs Keras predict, " + row["file"],
                    "≥ 10x",
                    f"{speedup:.1f}x",
                    verdict(speedup, 10),
                ]
            )
        fp32 = by_file.get(row["file"].replace("-int8", ""))
        if row["precision"] == "int8" and fp32:
            targets.append(int8_target(row, fp32))
    figure = Figure(figsize=(8, 4))
    axis = figure.subplots()
    names = [row["file"] for row in data["rows"]]
    for offset, (key, label) in enumerate(
        (
            ("keras_predict_ms", "Keras predict"),
            ("keras_call_ms", "Keras call"),
            ("ort_b1_ms", "onnxruntime b1"),
            ("ort_b8_ms", "onnxruntime b8 (per frame)"),
        )
    ):
        values = [row.get(key) or 0 for row in data["rows"]]
        axis.bar([i + offset * 0.2 for i in range(len(names))], values, width=0.2, label=label)
    axis.set_xticks([i + 0.3 for i in range(len(names))], names)
    axis.set_yscale("log")
    axis.set_ylabel("ms per frame (log)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(charts / "models.png", dpi=100)
    text = (
        f"## Models\n\nfp32 peak: {data['peak']} (2 FMA units per core and one core per vCPU "
        "assumed; the clock is the nominal one a VM reports); int8 rows against "
        f"{data['int8_factor']}x that (VNNI). A float32 matrix product reaches "
        f"{data['sgemm_gflops']:.0f} GFLOP/s on the same cores: rows above 100 % show the cores "
        "run faster than the reported clock.\n\n"
        + table(
            [
                "file",
                "precision",
                "params",
                "MFLOP",
                "val acc",
                "hard acc",
                "path",
                "ms/frame",
                "frames/s",
                "x predict",
                "% of peak",
            ],
            rows,
        )
        + "\n![models](charts/models.png)\n"
    )
    return text, targets


def ingest_section(data: dict) -> str:
    rows = [
        [
            row["size"],
            f"{row['visord_fps']:.0f}",
            f"{row['opencv_fps']:.0f}",
            f"{row['ffmpeg_fps']:.0f}",
            f"{row['ffmpeg_bgr_fps']:.0f}",
            f"{row['visord_fps'] / row['opencv_fps']:.2f}",
            f"{row['visord_fps'] / row['ffmpeg_bgr_fps']:.2f}",
        ]
        for row in data["rows"]
    ]
    return f"## Ingest (H.264 decode, {data['threads']} thread each)\n\n" + table(
        [
            "clip",
            "visord (PyAV) frames/s",
            "OpenCV read",
            "ffmpeg decode",
            "ffmpeg decode + bgr24",
            "visord / OpenCV",
            "visord / ffmpeg bgr24",
        ],
        rows,
    )


def end_to_end_section(data: dict, charts: Path) -> str:
    rows = [
        [
            row["mode"],
            str(row["streams"]),
            f"{row['requested_fps']:.0f}",
            f"{row['fps']:.1f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['cpu_cores']:.2f}",
            f"{row['cpu_ms_per_frame']:.1f}",
            "yes" if row["keeps_up"] else "no",
        ]
        for row in data["modes"]
    ]
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    for mode in dict.fromkeys(row["mode"] for row in data["modes"]):
        mine = [row for row in data["modes"] if row["mode"] == mode]
        left.plot(
            [row["streams"] for row in mine], [row["fps"] for row in mine], marker="o", label=mode
        )
    streams = sorted({row["streams"] for row in data["modes"]})
    asked = {row["streams"]: row["requested_fps"] for row in data["modes"]}
    left.plot(streams, [asked[s] for s in streams], linestyle="--", color="grey", label="asked")
    left.set_xlabel("streams")
    left.set_ylabel("classified frames/s")
    left.legend()
    for model in dict.fromkeys(row["model"] for row in data["batches"]):
        mine = [row for row in data["batches"] if row["model"] == model]
        right.plot(
            [row["batch"] for row in mine],
            [1000 / row["fps"] for row in mine],
            marker="o",
            label=model,
        )
    right.set_xlabel("batch size")
    right.set_ylabel("ms per frame (preprocess + run)")
    right.legend()
    figure.tight_layout()
    figure.savefig(charts / "end_to_end.png", dpi=100)
    batches = [
        [row["model"], str(row["batch"]), f"{row['fps']:.0f}", f"{1000 / row['fps']:.2f}"]
        for row in data["batches"]
    ]
    return (
        "## End to end and scaling\n\n"
        + table(
            [
                "mode",
                "streams",
                "asked/s",
                "done/s",
                "p50 ms",
                "p99 ms",
                "cores",
                "CPU ms/frame",
                "keeps up",
            ],
            rows,
        )
        + "\n"
        + table(["model", "batch", "frames/s", "ms/frame"], batches)
        + "\n![end to end](charts/end_to_end.png)\n"
    )


def overhead_section(data: dict) -> tuple[str, list[list[str]]]:
    ratio = data["daemon"]["fps"] / data["baseline_fps"]
    rows = [
        [name, f"{fps:.1f}", f"{fps / data['baseline_fps']:.2f}"]
        for name, fps in data["bare"].items()
    ]
    rows.append(
        [
            f"daemon (mean batch {data['daemon']['mean_batch']:.1f})",
            f"{data['daemon']['fps']:.1f}",
            f"{ratio:.2f}",
        ]
    )
    daemon = data["daemon"]
    text = (
        "## Daemon overhead\n\n"
        + table(["loop", "frames/s", "ratio to bare at the daemon's batch"], rows)
        + f"\nOverload: offered {daemon['offered_fps']:.0f} frames/s, classified "
        f"{daemon['fps']:.0f}/s, "
        f"dropped {daemon['dropped']} (counted), end-to-end p50 {daemon['p50_ms']:.1f} ms, p99 "
        f"{daemon['p99_ms']:.1f} ms.\n"
    )
    return text, [
        ["daemon throughput vs bare onnxruntime", "≥ 90%", f"{ratio:.0%}", verdict(ratio, 0.9)]
    ]


def startup_section(data: dict) -> tuple[str, list[list[str]]]:
    median = data["median"]
    text = "## Start-up and memory (2 models, 8 streams)\n\n" + table(
        ["READY s", "RSS MB", "peak RSS MB", "threads", "open files"],
        [
            [
                f"{median['ready_s']:.2f}",
                f"{median['rss_mb']:.0f}",
                f"{median['peak_rss_mb']:.0f}",
                f"{median['threads']:.0f}",
                f"{median['open_files']:.0f}",
            ]
        ],
    )
    return text, [
        [
            "READY after start",
            "≤ 3 s",
            f"{median['ready_s']:.2f} s",
            verdict(median["ready_s"], 3, False),
        ],
        [
            "resident memory",
            "< 300 MB",
            f"{median['rss_mb']:.0f} MB",
            verdict(median["rss_mb"], 300, False),
        ],
    ]


def faults_section(data: dict) -> str:
    timing = data["timing"]
    rows = [
        [
            line["fault"],
            line["what"],
            line["happened"],
            figure(line["detect_s"]),
            figure(line["recovery_s"]),
            figure(line["lost"], 0),
            str(line["lost_others"]),
            figure(line["others_rate"]),
        ]
        for line in data["table"]
    ]
    return (
        f"## Faults (median of {data['repeats']}; bench/faults.py)\n\nstall_timeout "
        f"{timing['stall_timeout']:g} s, "
        f"open timeout {timing['open_timeout']:g} s, backoff "
        f"{timing['backoff'][0]:g}-{timing['backoff'][1]:g} s; "
        "lost: classifications missed at 5 fps from the fault to the recovery; others' rate: "
        "during the fault "
        "over before it, the slowest of the two other streams.\n\n"
        + table(
            [
                "fault",
                "done",
                "what happened",
                "detect s",
                "recovery s",
                "lost",
                "lost on others",
                "others' rate",
            ],
            rows,
        )
    )


def soak_section(data: dict) -> tuple[str, list[list[str]]]:
    samples = data["samples"]
    arguments = data["arguments"]
    warm = [s for s in samples if s["seconds"] >= float(arguments["warmup"])]
    text = (
        f"## Soak ({float(arguments['seconds']):.0f} s, {arguments['streams']} RTSP streams; "
        "bench/soak.py)\n\n"
        + table(
            [
                "RSS after warm-up MB",
                "RSS at the end MB",
                "slope MB/min",
                "tail slope MB/min",
                "forced reconnects",
                "threads, files: baseline",
                "at the end",
            ],
            [
                [
                    f"{warm[0]['rss_mb']:.1f}",
                    f"{warm[-1]['rss_mb']:.1f}",
                    f"{data['slope_mb_per_min']:+.2f}",
                    f"{data['tail_slope_mb_per_min']:+.2f}",
                    str(data["reconnects"]),
                    str(data["baseline"]),
                    str(data["final"]),
                ]
            ],
        )
        + "\nAdded by each disruption (MB): "
        + " ".join(f"{a:+.1f}" for a in data["rss_added_mb"])
        + "\n"
    )
    tail = data["tail_slope_mb_per_min"]
    return text, [
        [
            "resident memory after the forced reconnects (fitted slope)",
            "< 1 MB/min",
            f"{tail:+.2f} MB/min",
            verdict(tail, 1.0, False),
        ],
        [
            "threads and open files after 100 forced reconnects",
            "back to baseline",
            f"{data['final']} vs {data['baseline']}",
            "met" if data["final"] == data["baseline"] else "missed",
        ],
    ]


def load_section(data: dict) -> str:
    rows = [
        [
            t["model"],
            str(t["streams"]),
            f"{t['decoded_fps_min']:.1f}",
            f"{t['classified_fps_min']:.2f} / {t['classified_fps_mean']:.2f}",
            f"{t['stale_drops_per_s']:.2f}",
            f"{t['latency_ms_mean']:.1f}",
            f"{t['cpu_cores']:.2f}",
            "yes" if t["sustained"] else "no",
        ]
        for t in sorted(data["trials"], key=lambda t: (t["model"], t["streams"]))
    ]
    tried = {
        role: max(t["streams"] for t in data["trials"] if t["model"] == role)
        for role in data["largest"]
    }
    found = "; ".join(
        f"{role} ({Path(data['models'][role]).name}): **{count} streams**"
        + (
            " (the most tried, all sustained: the box does at least this)"
            if all(t["sustained"] for t in data["trials"] if t["model"] == role)
            and count == tried[role]
            else ""
        )
        for role, count in data["largest"].items()
    )
    return (
        "## Load: 640x480 25 fps H.264 streams at 5 classified fps each (bench/load.py)\n\n"
        f"Largest count sustained: {found}.\n\n"
        + table(
            [
                "model",
                "streams",
                "decoded fps (min)",
                "classified fps min / mean",
                "stale drops/s",
                "latency ms",
                "CPU cores",
                "sustained",
            ],
            rows,
        )
    )


def router_section(out: Path) -> str | None:
    """bench/router.py's printed tables, as they came (make bench saves them to OUT/router.txt)."""
    path = out / "router.txt"
    if not path.is_file():
        return None
    return (
        "## Router: small, large, cascade and auto (bench/router.py)\n\n```\n"
        + path.read_text().strip()
        + "\n```\n"
    )


# Below this line RESULTS.md holds figures of scripts that run on their own (int8 recipes, the
# teaching loop): each report keeps them as they are.
KEPT = "<!-- carried over by bench/report.py: figures of scripts run on their own -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    charts = args.results.parent / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    sections = []
    targets = []
    missing = []
    for name, build in (
        ("models", lambda d: models_section(d, charts)),
        ("ingest", lambda d: (ingest_section(d), [])),
        ("end_to_end", lambda d: (end_to_end_section(d, charts), [])),
        ("daemon_overhead", overhead_section),
        ("startup", startup_section),
        ("load", lambda d: (load_section(d), [])),
        ("faults", lambda d: (faults_section(d), [])),
        ("soak", soak_section),
    ):
        data = load(args.out, name)
        if data is None:
            missing.append(name)
            continue
        text, found = build(data)
        sections.append(text)
        targets += found
    router = router_section(args.out)
    if router:
        sections.append(router)
    else:
        missing.append("router")
    head = (
        f"# Benchmark results\n\nMeasured by `make bench` on {time.strftime('%Y-%m-%d')}: "
        f"{cpu_name()}, "
        f"{platform.python_version()}; each table's figures come from one run on this machine, "
        "side by side.\n\n"
    )
    head += (
        "## Targets\n\n" + table(["target", "goal", "measured", "verdict"], targets)
        if targets
        else ""
    )
    if missing:
        head += f"\nNot run this time: {', '.join(missing)}.\n"
    previous = args.results.read_text() if args.results.exists() else ""
    kept = previous.split(KEPT, 1)[1] if KEPT in previous else "\n"
    args.results.write_text(head + "\n" + "\n".join(sections) + "\n" + KEPT + kept)
    print(f"wrote {args.results} and {charts}/")


if __name__ == "__main__":
    main()
