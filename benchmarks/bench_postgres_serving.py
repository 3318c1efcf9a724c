"""Serving on PostgreSQL beside the embedded store: durable writes, recommendations, workers.

Usage: `python -m benchmarks.bench_postgres_serving [--quick] [--dir DIR] [--duration S]
[--rounds N]`.

Starts a local PostgreSQL server (`discerner.localpg`, fsync on) in a temporary folder and
`discerner serve` processes (8 threads per worker) on it and on the embedded store, all
running at once so that every round measures them side by side, with `wrk` over loopback
keep-alive connections (required: `apt-get install wrk`):

- writes: durable `POST /users/{u}/products/{p}/activities` with 16 clients on fresh stores of
  200 users and 200 products: PostgreSQL (1 and 2 workers) against embedded (1 worker), and
  against `GET /health` of the same PostgreSQL server;
- recommendations: random users' top 10 with 8 clients on the store of `bench_serving` (50k
  users, 20k products, 2M activities; `--quick`: 5k, 2k, 200k; copied into PostgreSQL with
  `discerner migrate`'s `copy_store`) and its PureSVD(64) champion, once every server's top
  lists are precomputed: PostgreSQL with 2 workers against 1 worker, and PostgreSQL with 1
  worker against embedded; each worker's resident memory.

Each round runs every load once, in turn; ratios are taken per round and their median
reported. Exits 1 when a target is missed: PostgreSQL writes >= 0.5 x embedded, 2 workers >=
1.5 x 1 worker for recommendations.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.bench_api import POST_SCRIPT, PRODUCTS, USERS, _setup, _wrk
from benchmarks.bench_serving import RECS_SCRIPT, load_options, prepare, prepared
from discerner import config
from discerner.localpg import LocalPostgres
from serving.runtime.launch import ServerProcess

TARGETS = {"writes": 0.5, "workers": 1.5}
BENCH_PASSWORD = "benchmark password"


def _database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.replace("@/postgres?", f"@/{name}?")


def _script(folder: Path, name: str, template: str, values: dict) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(template % values)
    return path


def _token(server: ServerProcess) -> str:
    server.account("bench", BENCH_PASSWORD)
    session = server.login("bench", BENCH_PASSWORD)
    session.close()
    return session.headers["Authorization"].removeprefix("Token ")


def _all_built(server: ServerProcess, timeout: float = 600) -> None:
    """Wait until every worker's top lists are built (each /ready goes to some worker)."""
    deadline, streak = time.monotonic() + timeout, 0
    while streak < 12:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.url}: top lists never built")
        model = requests.get(server.url + "/ready", timeout=10).json().get("model", {})
        built = model.get("precomputed", {}).get("state") == "built"
        streak = streak + 1 if built else 0
        time.sleep(0.1 if built else 0.5)


def writes(folder: Path, admin_url: str, duration: float, rounds: int) -> dict:
    """Durable single-activity POSTs, 16 clients: PostgreSQL (1, 2 workers) vs embedded."""
    url = _database(admin_url, "writes")
    servers = {
        "embedded": ServerProcess(folder / "writes-embedded", threads=8),
        "postgres": ServerProcess(folder / "writes-pg1", threads=8, DISCERNER_STORE=url),
        "postgres2": ServerProcess(
            folder / "writes-pg2", threads=8, workers=2, DISCERNER_STORE=url
        ),
    }
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            server.start()
            stack.callback(server.stop)
        scripts, tokens = {}, {}
        for name, server in servers.items():
            # One token per store: an account set up again would revoke the first token.
            tokens[name] = tokens["postgres"] if name == "postgres2" else _setup(server)
            values = {"token": tokens[name], "users": USERS, "products": PRODUCTS}
            scripts[name] = _script(folder, f"post-{name}", POST_SCRIPT, values)
        runs = []
        for _ in range(rounds):
            run = {"health": _wrk(servers["postgres"].url + "/health", duration, None)}
            for name, server in servers.items():
                run[name] = _wrk(server.url, duration, scripts[name])
            runs.append(run)
    return {"runs": runs}


def recommendations(folder: Path, admin_url: str, sizes: dict, duration: float, rounds: int):
    """Top 10 of random users, 8 clients: PostgreSQL 2 workers vs 1, PostgreSQL vs embedded."""
    from discerner.store.transfer import copy_store

    home = folder / "recs-embedded"
    if not prepared(home, sizes):
        shutil.rmtree(home, ignore_errors=True)
        prepare(home, sizes)
    url = _database(admin_url, "recs")
    started = time.perf_counter()
    copy_store(str(config.store_dir(home)), url)
    copied_s = time.perf_counter() - started
    registry = {"MLFLOW_TRACKING_URI": config.tracking_uri(home), "DISCERNER_STORE": url}
    servers = {
        "embedded": ServerProcess(home, threads=8),
        "postgres": ServerProcess(folder / "recs-pg1", threads=8, **registry),
        "postgres2": ServerProcess(folder / "recs-pg2", threads=8, workers=2, **registry),
    }
    with contextlib.ExitStack() as stack:
        scripts, tokens = {}, {}
        for name, server in servers.items():
            server.start(timeout=600)
            stack.callback(server.stop)
            _all_built(server)  # one at a time: the second PostgreSQL server reads the lists
            # One token per store: an account set up again would revoke the first token.
            tokens[name] = tokens["postgres"] if name == "postgres2" else _token(server)
            values = {"token": tokens[name], "users": sizes["n_users"]}
            scripts[name] = _script(folder, f"recs-{name}", RECS_SCRIPT, values)
            _wrk(server.url, min(duration, 5), scripts[name], connections=8)  # warm-up
        runs = []
        for _ in range(rounds):
            run = {"health": _wrk(servers["postgres"].url + "/health", duration, None, 8)}
            for name, server in servers.items():
                run[name] = _wrk(server.url, duration, scripts[name], connections=8)
            runs.append(run)
        memory = {name: server.worker_rss_each() for name, server in servers.items()}
        shared = requests.get(servers["postgres2"].url + "/ready", timeout=10).json()
    return {"runs": runs, "memory": memory, "copied_s": copied_s, "ready": shared}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print markdown tables; 1 when a target is missed."""
    args, sizes, duration, rounds = load_options("benchmarks.bench_postgres_serving", __doc__, argv)
    if args is None:
        return 1
    with contextlib.ExitStack() as stack:
        root = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        pg_folder = tempfile.mkdtemp(prefix="discerner-pgserve-")
        stack.callback(shutil.rmtree, pg_folder, True)
        database = LocalPostgres(pg_folder, settings={"shared_buffers": "256MB"})
        admin_url = database.start()
        stack.callback(database.stop)
        run = root / "run"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        if (root / "recs-embedded").exists():
            shutil.copytree(root / "recs-embedded", run / "recs-embedded")
        wrote = writes(run, admin_url, duration, rounds)
        recs = recommendations(run, admin_url, sizes, duration, rounds)
        if args.dir and not (root / "recs-embedded").exists():
            shutil.copytree(run / "recs-embedded", root / "recs-embedded")
    return _report(sizes, wrote, recs, duration, rounds)


def _median(runs: list[dict], name: str, key: str = "rps") -> float:
    return statistics.median(run[name][key] for run in runs)


def _ratio(runs: list[dict], top: str, bottom: str) -> float:
    return statistics.median(run[top]["rps"] / run[bottom]["rps"] for run in runs)


def _row(runs: list[dict], name: str, label: str) -> None:
    rps, p50, p99 = (_median(runs, name, key) for key in ("rps", "p50_ms", "p99_ms"))
    failed = sum(run[name]["failed"] for run in runs)
    print(f"| {label} | {rps:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} non-2xx |")


def _report(sizes: dict, wrote: dict, recs: dict, duration: float, rounds: int) -> int:
    print(f"wrk over loopback keep-alive; {rounds} rounds of {duration:g} s; medians.\n")
    runs = wrote["runs"]
    print("Durable single-activity POSTs, 16 clients\n\n| server | result |\n|---|---|")
    _row(runs, "embedded", "embedded, 1 worker")
    _row(runs, "postgres", "PostgreSQL, 1 worker")
    _row(runs, "postgres2", "PostgreSQL, 2 workers")
    _row(runs, "health", "`GET /health`, PostgreSQL 1 worker")
    write_ratio = _ratio(runs, "postgres", "embedded")
    print(f"| PostgreSQL ÷ embedded (1 worker each) | **{write_ratio:.2f}** (target ≥ 0.5) |")
    print(f"| PostgreSQL 2 workers ÷ embedded | {_ratio(runs, 'postgres2', 'embedded'):.2f} |")
    print(f"| PostgreSQL ÷ its `/health` | {_ratio(runs, 'postgres', 'health'):.2f} |")
    runs = recs["runs"]
    print(
        f"\nRecommendations (top 10, random users), 8 clients; {sizes['n_users']:,} users, "
        f"{sizes['n_products']:,} products, {sizes['n_activities']:,} activities "
        f"(copied into PostgreSQL in {recs['copied_s']:.0f} s)\n\n| server | result |\n|---|---|"
    )
    _row(runs, "embedded", "embedded, 1 worker")
    _row(runs, "postgres", "PostgreSQL, 1 worker")
    _row(runs, "postgres2", "PostgreSQL, 2 workers")
    _row(runs, "health", "`GET /health`, PostgreSQL 1 worker")
    workers = _ratio(runs, "postgres2", "postgres")
    print(f"| PostgreSQL 2 workers ÷ 1 worker | **{workers:.2f}** (target ≥ 1.5) |")
    print(
        f"| PostgreSQL 1 worker ÷ embedded 1 worker | {_ratio(runs, 'postgres', 'embedded'):.2f} |"
    )
    for name, sizes_mb in recs["memory"].items():
        each = ", ".join(f"{rss / 2**20:,.0f}" for rss in sizes_mb)
        print(f"| worker memory, {name} | {each} MB RSS |")
    print(f"| top lists of the 2-worker server | {recs['ready']['model'].get('precomputed')} |")
    ok = write_ratio >= TARGETS["writes"] and workers >= TARGETS["workers"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
