"""PostgreSQL store: a bulk import (binary COPY) and a whole snapshot into a training frame.

Starts a local PostgreSQL server (`discerner.localpg`) in a temporary folder, imports N
generated activities, then in a fresh process times `interactions()` (one REPEATABLE READ
snapshot read in parallel ranges) and `data_version()` right after it (served from the hash
computed during the read), and reports that process's peak RSS. Default N is 20M
(`--quick`: 1M). Needs PostgreSQL server binaries.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

from discerner.localpg import LocalPostgres

TARGETS = {"snapshot_s": 60, "rss_mb_per_m_rows": 100}

BUILD = """
import json, sys, time
from discerner.datasets import generate
from discerner.store.postgres import PostgresStore
rows = int(sys.argv[2])
data = generate(n_users=rows // 100, n_products=rows // 400, n_activities=rows, seed=3)
with PostgresStore.open(sys.argv[1]) as store:
    started = time.perf_counter()
    store.import_interactions(data.activities, progress=False)
    print(json.dumps({"import_s": time.perf_counter() - started}))
"""

SNAPSHOT = """
import json, resource, sys, time
from discerner.store.postgres import PostgresStore
with PostgresStore.open(sys.argv[1], readonly=True) as store:
    started = time.perf_counter()
    frame = store.interactions()
    snapshot_s = time.perf_counter() - started
    started = time.perf_counter()
    version = store.data_version()
    version_s = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert len(frame) == version["activities"]
print(json.dumps({"snapshot_s": snapshot_s, "version_s": version_s, "rss_mb": rss,
                  "rows": len(frame)}))
"""


def _run(script: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_postgres", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M activities instead of 20M")
    parser.add_argument("--rows", type=int, help="activities to import (overrides --quick)")
    args = parser.parse_args(argv)
    rows = args.rows or (1_000_000 if args.quick else 20_000_000)
    with tempfile.TemporaryDirectory(prefix="discerner-pg-bench-") as folder:
        server = LocalPostgres(folder, settings={"shared_buffers": "512MB"})
        url = server.start()
        try:
            started = time.perf_counter()
            built = _run(BUILD, url, str(rows))
            print(
                f"  generated and imported {rows:,} activities in "
                f"{time.perf_counter() - started:.0f} s (COPY: {built['import_s']:.1f} s)"
            )
            snap = _run(SNAPSHOT, url)
        finally:
            server.stop()
    rss_target = TARGETS["rss_mb_per_m_rows"] * max(rows / 1e6, 4)
    table = [
        (f"import of {rows:,} activities (s)", f"{built['import_s']:.1f}", "", True),
        (f"snapshot of {rows:,} activities into a frame (s)", f"{snap['snapshot_s']:.1f}",
         f"< {TARGETS['snapshot_s']}", snap["snapshot_s"] < TARGETS["snapshot_s"]),
        ("data_version after it (s)", f"{snap['version_s']:.3f}", "", True),
        ("peak RSS of the reading process (MB)", f"{snap['rss_mb']:,.0f}", f"< {rss_target:,.0f}",
         snap["rss_mb"] < rss_target),
    ]  # fmt: skip
    print("| measure | value | target | ok |\n|---|---|---|---|")
    for name, value, target, ok in table:
        print(f"| {name} | {value} | {target} | {'yes' if ok else 'NO'} |")
    return 0 if all(ok for *_, ok in table) else 1


if __name__ == "__main__":
    sys.exit(main())
