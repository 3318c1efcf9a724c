"""Store benchmark: durable appends from 16 threads vs SQLite, a 1M-row CSV import, a 20M open.

Usage: `python -m benchmarks.bench_store [--quick] [--repeats N] [--dir DIR]`.

- Appends: 16 threads each add single activities through `Store.add_activity` (durable on
  return) on a fresh store; then SQLite (WAL, synchronous=FULL, one connection per thread, one
  commit per insert) with the same 16 threads. Rounds alternate the two so both see the same
  machine load; the ratio is taken per round and its median reported.
- Import: `discerner import` of a generated CSV in a fresh process (wall time, start to exit).
- Open: a store of generated activities is built once, then opened for writing in fresh
  processes; each reports the time of `Store.open` and its peak resident memory. Then one
  more process deletes 2% of the users and compacts (which also drops the tombstones from
  memory): the compaction's time and the peak resident memory of that server process.

Figures are medians over the rounds. Exits 1 when a target of issue 3 is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

THREADS = 16
TARGETS = {
    "appends_per_s": 3000,
    "p99_ms": 30,
    "ratio": 10,
    "import_s": 15,
    "open_s": 10,
    "open_rss_mb": 2048,
}
FULL = {"store_ops": 400, "sqlite_ops": 40, "import_rows": 1_000_000, "open_rows": 20_000_000}
QUICK = {"store_ops": 200, "sqlite_ops": 10, "import_rows": 100_000, "open_rows": 1_000_000}


def _threads(work, count: int) -> float:
    """Run `work(i)` in `count` threads started together; returns the wall time."""
    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []

    def run(i):
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def store_appends(folder: Path, per_thread: int) -> tuple[float, list[float]]:
    """Durable single-activity appends from 16 threads: (ops per second, latencies in s)."""
    from discerner.store import Store

    latencies: list[float] = []
    with Store.open(folder) as store:
        for _ in range(THREADS):
            store.create_user()
            store.create_product()

        def work(i):
            mine = []
            for k in range(per_thread):
                started = time.perf_counter()
                store.add_activity(i + 1, (i + k) % THREADS + 1, 1.0)
                mine.append(time.perf_counter() - started)
            latencies.extend(mine)

        elapsed = _threads(work, THREADS)
    return THREADS * per_thread / elapsed, latencies


def sqlite_appends(path: Path, per_thread: int) -> float:
    """The same load on SQLite (WAL, synchronous=FULL, a commit per insert): ops per second."""
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute(
            "CREATE TABLE activities (id INTEGER PRIMARY KEY, user_id INTEGER,"
            " product_id INTEGER, score REAL, timestamp INTEGER)"
        )

    def work(i):
        connection = sqlite3.connect(path, timeout=120, check_same_thread=False)
        connection.execute("PRAGMA synchronous=FULL")
        for k in range(per_thread):
            connection.execute(
                "INSERT INTO activities (user_id, product_id, score, timestamp)"
                " VALUES (?, ?, ?, ?)",
                (i + 1, k % THREADS + 1, 1.0, time.time_ns() // 1000),
            )
            connection.commit()
        connection.close()

    return THREADS * per_thread / _threads(work, THREADS)


def bench_appends(work: Path, sizes: dict, repeats: int) -> dict:
    """Alternate store and SQLite rounds; medians of throughput, p50, p99 and the ratio."""
    rounds = []
    for r in range(repeats):
        rate, latencies = store_appends(work / f"appends-{r}", sizes["store_ops"])
        sqlite_rate = sqlite_appends(work / f"sqlite-{r}.db", sizes["sqlite_ops"])
        ordered = sorted(latencies)
        rounds.append(
            {
                "rate": rate,
                "p50": ordered[len(ordered) // 2] * 1000,
                "p99": ordered[int(len(ordered) * 0.99)] * 1000,
                "sqlite": sqlite_rate,
                "ratio": rate / sqlite_rate,
            }
        )
        print(f"  appends round {r + 1}: {json.dumps(_rounded(rounds[-1]))}", flush=True)
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def _rounded(values: dict) -> dict:
    return {k: round(v, 1) for k, v in values.items()}


def _env(home: Path) -> dict:
    return os.environ | {"DISCERNER_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}


def bench_import(work: Path, rows: int, repeats: int) -> float:
    """Median wall time of `discerner import` of a generated `rows`-row CSV in a new process."""
    from discerner.datasets import generate, write_csv

    data = generate(n_users=max(rows // 20, 10), n_products=max(rows // 100, 10), n_activities=rows)
    csv = work / "import.csv"
    write_csv(data.activities, csv)
    times = []
    for r in range(repeats):
        command = [sys.executable, "-m", "discerner", "import", str(csv), "--no-progress"]
        started = time.perf_counter()
        subprocess.run(command, env=_env(work / f"import-{r}"), check=True, capture_output=True)
        times.append(time.perf_counter() - started)
        print(f"  import round {r + 1}: {times[-1]:.1f} s", flush=True)
    return statistics.median(times)


BUILD = """
import sys
from discerner.datasets import generate
from discerner.store import Store
rows = int(sys.argv[2])
data = generate(n_users=rows // 100, n_products=rows // 400, n_activities=rows, seed=3)
with Store.open(sys.argv[1], compact_interval=0) as store:
    store.import_interactions(data.activities, progress=False)
"""

OPEN = """
import json, resource, sys, time
from discerner.store import Store
started = time.perf_counter()
store = Store.open(sys.argv[1], compact_interval=0)
elapsed = time.perf_counter() - started
store.user_history(1)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"open_s": elapsed, "rss_mb": rss, "activities": store.count_activities()}))
store.close()
"""


COMPACT = """
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from discerner.store import Store
store = Store.open(sys.argv[1], compact_interval=0)
users = [u["id"] for u in store.list_users(limit=store.count_users() // 50)]
with ThreadPoolExecutor(16) as pool:  # delete 2% of users: the compaction also reclaims memory
    list(pool.map(store.delete_user, users))
started = time.perf_counter()
store.compact()
elapsed = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"compact_s": elapsed, "rss_mb": rss, "deleted_users": len(users)}))
store.close()
"""


def bench_compact(folder: Path) -> dict:
    """Delete 2% of the users of a big store, then compact it: time and the process's peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", COMPACT, str(folder)], check=True, capture_output=True, text=True
    )
    result = json.loads(out.stdout)
    print(f"  compaction: {json.dumps(_rounded(result))}", flush=True)
    return result


def bench_open(work: Path, rows: int, repeats: int) -> dict:
    """Build a `rows`-activity store, then open it in new processes: medians of time and RSS."""
    folder = work / "big-store"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUILD, str(folder), str(rows)], check=True)
    print(f"  built a {rows:,}-activity store in {time.perf_counter() - started:.0f} s")
    results = []
    for r in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", OPEN, str(folder)], check=True, capture_output=True, text=True
        )
        results.append(json.loads(out.stdout))
        print(f"  open round {r + 1}: {json.dumps(_rounded(results[-1]))}", flush=True)
        assert results[-1]["activities"] == rows
    medians = {key: statistics.median(r[key] for r in results) for key in ("open_s", "rss_mb")}
    compacted = bench_compact(folder)
    return medians | {"compact_s": compacted["compact_s"], "rss_mb_compact": compacted["rss_mb"]}


def _table(rows: list[tuple]) -> tuple[str, bool]:
    lines = ["| measure | value | target | ok |", "|---|---|---|---|"]
    passed = True
    for name, value, target, ok in rows:
        passed &= ok
        lines.append(f"| {name} | {value} | {target} | {'yes' if ok else 'NO'} |")
    return "\n".join(lines), passed


def _rows(appends: dict, import_s: float, opened: dict, sizes: dict) -> list[tuple]:
    t = TARGETS
    rate, p99, ratio = appends["rate"], appends["p99"], appends["ratio"]
    open_s, rss = opened["open_s"], opened["rss_mb"]
    return [
        ("durable appends/s, 16 threads", f"{rate:,.0f}", f">= {t['appends_per_s']:,}",
         rate >= t["appends_per_s"]),
        ("append latency p50 (ms)", f"{appends['p50']:.1f}", "", True),
        ("append latency p99 (ms)", f"{p99:.1f}", f"< {t['p99_ms']}", p99 < t["p99_ms"]),
        ("SQLite WAL+FULL inserts/s, 16 threads", f"{appends['sqlite']:,.0f}", "", True),
        ("store / SQLite (median of per-round ratios)", f"{ratio:.1f}x", f">= {t['ratio']}x",
         ratio >= t["ratio"]),
        (f"import of a {sizes['import_rows']:,}-row CSV (s)", f"{import_s:.1f}",
         f"< {t['import_s']}", import_s < t["import_s"]),
        (f"open of a {sizes['open_rows']:,}-activity store (s)", f"{open_s:.1f}",
         f"< {t['open_s']}", open_s < t["open_s"]),
        ("peak RSS of the opening process (MB)", f"{rss:,.0f}", f"< {t['open_rss_mb']:,}",
         rss < t["open_rss_mb"]),
        ("compaction after deleting 2% of users (s)", f"{opened['compact_s']:.1f}", "", True),
        ("peak RSS of that server process (MB)", f"{opened['rss_mb_compact']:,.0f}",
         f"< {t['open_rss_mb']:,}", opened["rss_mb_compact"] < t["open_rss_mb"]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the store benchmark, print a markdown table, return 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per measure (default 3)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: system temp)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-store-") as scratch:
        work = Path(scratch)
        appends = bench_appends(work, sizes, args.repeats)
        import_s = bench_import(work, sizes["import_rows"], args.repeats)
        opened = bench_open(work, sizes["open_rows"], args.repeats)
    table, passed = _table(_rows(appends, import_s, opened, sizes))
    print(table)
    if args.quick:
        print("\n(--quick: small sizes; the import and open targets are meant for the full sizes)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
