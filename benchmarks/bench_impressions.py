"""Impressions benchmark: reading an experiment's impressions with and without compaction.

Usage: `python -m benchmarks.bench_impressions [--quick] [--appends N] [--dir DIR]`.

Two impression logs in a scratch folder receive the same appends (5 impressions each, as the
server's flush of about a second), one append to each in turn so both see the same machine
load: one compacts (fanout 64, the default), the other never does (a fanout no run reaches).
Then each is read three times, in turn, by a read-only log, and the median read is reported,
with the file counts and append latencies; last, one `compact` of the uncompacted folder (the
catch-up of a folder that never merged). Exits 1 when the two reads differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from discerner.store.impressions import FANOUT, ImpressionLog

PER_APPEND = 5
NEVER = 10**12  # a fanout no run reaches: that log never compacts
READS = 3


def _rows(append: int) -> list[dict]:
    """The impressions of one append: PER_APPEND of them, one second after the previous."""
    moment = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(seconds=append)
    return [
        {
            "request_id": f"{append}-{i}",
            "experiment": "exp",
            "variant": "AB"[i % 2],
            "version": "discerner/1",
            "user_id": append * PER_APPEND + i,
            "product_ids": list(range(10)),
            "time": moment,
        }
        for i in range(PER_APPEND)
    ]


def _append(folder: Path, appends: int) -> dict[str, list[float]]:
    """Append to both logs in turn; the latencies (s) of each log's appends."""
    logs = {"compacted": ImpressionLog(folder / "compacted"), "plain": ImpressionLog(
        folder / "plain", fanout=NEVER)}  # fmt: skip
    latencies: dict[str, list[float]] = {name: [] for name in logs}
    for a in range(appends):
        rows = _rows(a)
        for name, log in logs.items():
            started = time.perf_counter()
            log.append(rows)
            latencies[name].append(time.perf_counter() - started)
        if (a + 1) % 5000 == 0:
            print(f"  {a + 1:,} appends", flush=True)
    return latencies


def _read(folder: Path) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Median read time (s) of each log, reads taken in turn, and the frames read."""
    times: dict[str, list[float]] = {"compacted": [], "plain": []}
    frames = {}
    for _ in range(READS):
        for name in times:
            started = time.perf_counter()
            frames[name] = ImpressionLog(folder / name, readonly=True).read("exp")
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(found) for name, found in times.items()}, frames


def _files(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.parquet"))


def main(argv: list[str] | None = None) -> int:
    """Run the impressions benchmark, print a markdown table; 1 when the two reads differ."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_impressions", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="2,000 appends, for a smoke run")
    parser.add_argument("--appends", type=int, default=20_000, help="appends (default 20,000)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: system temp)")
    args = parser.parse_args(argv)
    appends = 2_000 if args.quick else args.appends
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-impressions-") as scratch:
        work = Path(scratch)
        latencies = _append(work, appends)
        files = {name: _files(work / name / "exp") for name in latencies}
        reads, frames = _read(work)
        same = frames["compacted"].equals(frames["plain"])
        started = time.perf_counter()
        ImpressionLog(work / "plain").compact("exp")
        catch_up, after = time.perf_counter() - started, _files(work / "plain" / "exp")
    ms = {name: np.array(found) * 1000 for name, found in latencies.items()}
    rows = [
        ("files", files, "{:,}"),
        ("read (s)", reads, "{:.3f}"),
        ("append p50 (ms)", {n: np.percentile(v, 50) for n, v in ms.items()}, "{:.1f}"),
        ("append p99 (ms)", {n: np.percentile(v, 99) for n, v in ms.items()}, "{:.1f}"),
        ("append max (ms)", {n: v.max() for n, v in ms.items()}, "{:.0f}"),
        ("appends in all (s)", {n: v.sum() / 1000 for n, v in ms.items()}, "{:.1f}"),
    ]
    print(f"{appends:,} appends of {PER_APPEND} impressions; fanout {FANOUT}; median of {READS}")
    print("\n| measure | compacted | not compacted |\n|---|---|---|")
    for label, values, form in rows:
        print(f"| {label} | {form.format(values['compacted'])} | {form.format(values['plain'])} |")
    print(f"\nread speed-up: {reads['plain'] / reads['compacted']:.0f}x; same rows in the same "
          f"order: {'yes' if same else 'NO'}")  # fmt: skip
    print(f"one compact() of the uncompacted folder: {catch_up:.1f} s ({files['plain']:,} -> "
          f"{after} files)")  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
