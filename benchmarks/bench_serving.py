"""Serving benchmark: the champion's recommendations over HTTP, latency, throughput, hot swap.

Usage: `python -m benchmarks.bench_serving [--quick] [--dir DIR] [--duration S] [--rounds N]
[--filters] [--experiment]`.

Prepares (once per `--dir`; a temporary folder otherwise) a store of generated data (50k
users, 20k products, 2M activities; `--quick`: 5k, 2k, 200k; each product in one of 10
categories and with each of the labels sale, new, eco, local at random, one in four) and two
registered versions trained on it: PureSVD(64) as the champion and PureSVD(32). Then runs
`discerner serve` and drives it over loopback keep-alive connections with `wrk` (required:
`apt-get install wrk`):

- one client at a time asking random users' top 10: p50 and p99 latency (median of rounds),
  once the champion's top lists are precomputed (the steady state: `/ready` says when);
- 8 concurrent clients: recommendations vs `GET /health`, alternating, ratio per round; and
  the same on a server with precomputing off, where every request scores its user live (as
  the first request after a user's history changed does), reported beside it;
- a swap during load: `promote` version 2 and SIGHUP the server while 8 clients ask for
  recommendations; every response must be 2xx and the new version must answer afterwards;
- the champion's load time (as the server measured it), the time from process start to
  `/health` and to `/ready`, the precomputing time and the worker's resident memory;
- with `--filters`: recommendations with filters and explanations on (`category` a random
  category, `labels_any=sale,eco`, `explain=true`) beside plain ones on the same server, one
  client (p50, p99) and 8 clients (alternating runs, the ratio filtered / plain per round).
- with `--experiment`: recommendations while an A/B experiment runs (`control` = the champion
  alias, `same` = version 1 by number: the same model in a second holder, so the figure is
  the experiment's own cost: routing, a second set of precomputed lists, every impression
  logged) beside plain ones on the same server before and after it, 8 clients; and the
  impressions the store holds against the requests answered under the experiment.

Exits 1 when a target of issue 7 is missed: p50 < 3 ms, p99 < 15 ms, ratio >= 0.6, load < 3 s,
no non-2xx during the swap.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

from benchmarks.bench_api import _wrk
from serving.runtime.launch import ServerProcess

BENCH_PASSWORD = "benchmark password"

TARGETS = {"p50_ms": 3.0, "p99_ms": 15.0, "ratio": 0.6, "load_s": 3.0}
FULL = {"n_users": 50_000, "n_products": 20_000, "n_activities": 2_000_000}
QUICK = {"n_users": 5_000, "n_products": 2_000, "n_activities": 200_000}
RECS_SCRIPT = """
wrk.headers["Authorization"] = "Token %(token)s"
request = function()
  return wrk.format("GET", "/users/" .. math.random(%(users)d) .. "/recs?n=10")
end
"""
LABELS = ("sale", "new", "eco", "local")
FILTERED_SCRIPT = """
wrk.headers["Authorization"] = "Token %(token)s"
categories = {%(categories)s}
request = function()
  local category = categories[math.random(#categories)]
  return wrk.format("GET", "/users/" .. math.random(%(users)d) ..
    "/recs?n=10&labels_any=sale,eco&explain=true&category=" .. category)
end
"""
DATA_VERSION = 2  # 2: products have labels


def prepared(home: Path, sizes: dict) -> bool:
    """Whether `home` holds the data `prepare` makes for `sizes` (of this DATA_VERSION)."""
    marker = home / "prepared"
    return marker.exists() and marker.read_text() == repr({**sizes, "version": DATA_VERSION})


def prepare(home: Path, sizes: dict) -> None:
    """Fill a store with generated data and register two PureSVD versions trained on it."""
    import mlflow

    from discerner import config, datasets, tracking, training
    from discerner.models import PureSVD
    from discerner.store import Store
    from discerner.tracking import registry

    started = time.perf_counter()
    data = datasets.generate(**sizes, seed=11)
    rng = np.random.default_rng(11)
    with Store.open(config.store_dir(config.ensure_home(home))) as store:
        for category in data.products.sort_values("id")["category"]:
            labels = [label for label in LABELS if rng.random() < 0.25]
            attributes = {"category": category} | ({"labels": labels} if labels else {})
            store.create_product(attributes=attributes)
        store.import_interactions(data.activities, progress=True)
    print(f"store filled in {time.perf_counter() - started:.0f} s", flush=True)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    tracking.setup(home, tracking_uri=config.tracking_uri(home))
    users = data.activities["user_id"].unique()[:100]
    for components in (64, 32):
        started = time.perf_counter()
        model = PureSVD(n_components=components).fit(data.activities)
        with mlflow.start_run(experiment_id=tracking.experiment_id(home=home)):
            info = training.log_model(model, users)
        version = registry.register(info.model_uri, {"model_class": "PureSVD"})
        print(
            f"version {version.version} (PureSVD {components}) in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    registry.promote(1)
    # MLflow exported the URI to the environment; the server must find its own copy's database.
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if previous is not None:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    (home / "prepared").write_text(repr({**sizes, "version": DATA_VERSION}))


def _session(server: ServerProcess) -> requests.Session:
    server.account("bench", BENCH_PASSWORD)
    return server.login("bench", BENCH_PASSWORD)


def _wait_ready(session: requests.Session, url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = session.get(url + "/ready")
        if response.status_code == 200:
            return response.json()
        time.sleep(0.1)
    raise RuntimeError("the server never became ready")


def _wait_precomputed(session: requests.Session, url: str, timeout: float = 300) -> dict:
    """The champion's precomputed top lists, once built (the steady state being measured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = session.get(url + "/ready").json()["model"].get("precomputed", {})
        if state.get("state") != "building":
            return state
        time.sleep(0.2)
    raise RuntimeError("the top lists were never precomputed")


def _swap_during_load(server: ServerProcess, session, script: Path, duration: float) -> dict:
    """Promote version 2 and SIGHUP the server while wrk asks for recommendations."""
    from discerner import config
    from discerner.tracking import registry

    mlflow_client = registry.client(config.tracking_uri(server.home))
    mlflow_client.search_registered_models()  # import and connect before the clock starts
    result: dict = {}
    load = threading.Thread(
        target=lambda: result.update(_wrk(server.url, duration, script, connections=8))
    )
    load.start()
    time.sleep(duration / 4)
    registry.promote(2, mlflow_client=mlflow_client)
    server.process.send_signal(signal.SIGHUP)
    signalled = time.monotonic()
    while _version(session, server) != "discerner/2" and time.monotonic() - signalled < 30:
        time.sleep(0.05)
    result["swap_s"] = time.monotonic() - signalled
    load.join()
    result["version_after"] = _version(session, server)
    return result


def _experiment(server, session, script: Path, pairs, duration, rounds, ready) -> dict:
    """8-client runs under an experiment between the champion and itself by number, beside
    the plain runs before (`pairs`) and after it; impressions written against answers."""
    from discerner import config
    from discerner.experiments import Variant, book
    from discerner.store import Store
    from discerner.tracking import registry

    mlflow_client = registry.client(config.tracking_uri(server.home))
    variants = [Variant("control", "champion", 50), Variant("same", "1", 50)]
    book.start("bench", variants, mlflow_client=mlflow_client)
    server.process.send_signal(signal.SIGHUP)
    _wait_header(session, server, present=True)
    warm = _wrk(server.url, min(duration, 5), script, connections=8)  # warm-up, not counted
    time.sleep(ready["precomputed"].get("seconds", 0) + 1)  # the second holder's lists
    runs = [_wrk(server.url, duration, script, connections=8) for _ in range(rounds)]
    book.stop("bench", mlflow_client=mlflow_client)
    server.process.send_signal(signal.SIGHUP)
    _wait_header(session, server, present=False)
    after = [_wrk(server.url, duration, script, connections=8) for _ in range(rounds)]
    time.sleep(3)  # the last impressions are flushed within a second
    with Store.open(config.store_dir(server.home), readonly=True) as store:
        logged = len(store.impressions("bench"))
    answered = warm["completed"] + sum(run["completed"] for run in runs) + 1
    return {"before": [r for _, r in pairs], "during": runs, "after": after}, logged, answered


def _wait_header(session, server: ServerProcess, present: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        headers = session.get(server.url + "/users/1/recs").headers
        if ("X-Experiment" in headers) == present:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not {'start' if present else 'stop'} the experiment")


def _report_experiment(tested) -> None:
    runs, logged, answered = tested
    plain = [r["rps"] for r in runs["before"] + runs["after"]]
    during = statistics.median(r["rps"] for r in runs["during"])
    failed = sum(r["failed"] for r in runs["during"])
    print("| recommendations, 8 clients | req/s (median) | experiment ÷ plain |")
    print("|---|---|---|")
    print(f"| plain (before and after the experiment) | {statistics.median(plain):,.0f} | |")
    print(
        f"| under an experiment, every impression logged | {during:,.0f} ({failed} non-2xx) | "
        f"{during / statistics.median(plain):.2f} |"
    )
    print(f"\nImpressions in the store: {logged:,} of about {answered:,} answers under it.\n")


def _version(session: requests.Session, server: ServerProcess) -> str:
    return session.get(server.url + "/users/1/recs").headers["X-Model-Version"]


def load_options(
    module: str, doc: str | None, argv: list[str] | None, flags: dict[str, str] | None = None
):
    """The options of a serving load benchmark: (args, sizes, duration, rounds); args None
    (after saying why) when `wrk` is missing. `flags`: the benchmark's own on/off options,
    {name: help}."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc)
    parser.add_argument("--quick", action="store_true", help="a small store, short runs")
    parser.add_argument("--dir", type=Path, help="keep the prepared data here (reused)")
    parser.add_argument("--duration", type=float, help="seconds per load run")
    parser.add_argument("--rounds", type=int, help="rounds of every load")
    for name, text in (flags or {}).items():
        parser.add_argument(name, action="store_true", help=text)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get update && apt-get install -y wrk")
        return None, None, None, None
    sizes = QUICK if args.quick else FULL
    duration = args.duration or (3.0 if args.quick else 10.0)
    return args, sizes, duration, args.rounds or (2 if args.quick else 3)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a markdown table; 1 when a target is missed."""
    flags = {"--filters": "also recommendations with filters and explanations, side by side"}
    flags["--experiment"] = "also recommendations under an A/B experiment, side by side"
    args, sizes, duration, rounds = load_options("benchmarks.bench_serving", __doc__, argv, flags)
    if args is None:
        return 1
    with contextlib.ExitStack() as stack:
        root = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        home = root / "home"
        if not prepared(home, sizes):
            shutil.rmtree(home, ignore_errors=True)
            prepare(home, sizes)
        work = root / "run"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(home, work / "home")  # each run starts from version 1 as champion
        return _run(work / "home", sizes, duration, rounds, args.filters, args.experiment)
    return 1


def _run(
    home: Path,
    sizes: dict,
    duration: float,
    rounds: int,
    filters: bool = False,
    experiment: bool = False,
) -> int:
    live_pairs = _live_scoring(home, sizes, duration, rounds)
    started = time.monotonic()
    server = ServerProcess(home, threads=8)
    try:
        health_s = server.start().health_seconds
        session = _session(server)
        ready = _wait_ready(session, server.url)
        ready["start_to_ready_s"] = time.monotonic() - started
        ready["start_to_health_s"] = health_s
        ready["precomputed"] = _wait_precomputed(session, server.url)
        script = _recs_script(home, session, sizes)
        _wrk(server.url, min(duration, 5), script, connections=8)  # warm-up, not counted
        singles = [_wrk(server.url, duration, script, connections=1) for _ in range(rounds)]
        single = {key: statistics.median(run[key] for run in singles) for key in singles[0]}
        single["p99_runs"] = [run["p99_ms"] for run in singles]
        pairs = _pairs(server, script, duration, rounds)
        filtered = (
            _filtered(server, home, session, sizes, script, duration, rounds) if filters else None
        )
        rss = server.worker_rss() / 2**20
        tested = (
            _experiment(server, session, script, pairs, duration, rounds, ready)
            if experiment
            else None
        )
        swap = _swap_during_load(server, session, script, duration)
        session.close()
    finally:
        server.stop()
    if filtered is not None:
        _report_filtered(*filtered)
    if tested is not None:
        _report_experiment(tested)
    return _report(sizes, ready, single, pairs, rss, swap, live_pairs)


def _filtered(server, home, session, sizes, plain: Path, duration, rounds) -> tuple:
    """Filtered and explained recommendations beside plain ones: one client, then rounds of
    8-client runs alternating between the two (one pair per round)."""
    from discerner import datasets

    script = home.parent / "filtered.lua"
    token = session.headers["Authorization"].removeprefix("Token ")
    names = sorted(set(datasets.generate(**sizes, seed=11).products["category"]))
    categories = ", ".join(f'"{name}"' for name in names)
    text = FILTERED_SCRIPT % {"token": token, "users": sizes["n_users"], "categories": categories}
    script.write_text(text)
    _wrk(server.url, min(duration, 5), script, connections=8)  # warm-up, not counted
    singles = {
        kind: [_wrk(server.url, duration, path, connections=1) for _ in range(rounds)]
        for kind, path in (("plain", plain), ("filtered", script))
    }
    pairs = [
        (_wrk(server.url, duration, plain, connections=8), _wrk(server.url, duration, script, 8))
        for _ in range(rounds)
    ]
    return singles, pairs


def _report_filtered(singles: dict, pairs: list[tuple]) -> None:
    print("| recommendations | 1 client p50 / p99 | 8 clients | filtered ÷ plain |")
    print("|---|---|---|---|")
    ratio = statistics.median(filtered["rps"] / plain["rps"] for plain, filtered in pairs)
    for kind, column in (("plain", 0), ("filtered", 1)):
        p50 = statistics.median(run["p50_ms"] for run in singles[kind])
        p99 = statistics.median(run["p99_ms"] for run in singles[kind])
        rps = statistics.median(pair[column]["rps"] for pair in pairs)
        failed = sum(pair[column]["failed"] for pair in pairs)
        label = "plain `n=10`" if kind == "plain" else "`category`, `labels_any`, `explain=true`"
        shown = f"{ratio:.2f}" if kind == "filtered" else ""
        print(
            f"| {label} | {p50:.2f} / {p99:.2f} ms | {rps:,.0f} req/s ({failed} non-2xx) | "
            f"{shown} |"
        )
    print()


def _recs_script(home: Path, session: requests.Session, sizes: dict) -> Path:
    script = home.parent / "recs.lua"
    token = session.headers["Authorization"].removeprefix("Token ")
    script.write_text(RECS_SCRIPT % {"token": token, "users": sizes["n_users"]})
    return script


def _pairs(server: ServerProcess, script: Path, duration: float, rounds: int) -> list[tuple]:
    """Alternating 8-client runs of `/health` and recommendations, one pair per round."""
    pairs = []
    for _ in range(rounds):
        health = _wrk(server.url + "/health", duration, None, connections=8)
        recs = _wrk(server.url, duration, script, connections=8)
        pairs.append((health, recs))
    return pairs


def _live_scoring(home: Path, sizes: dict, duration: float, rounds: int) -> list[tuple]:
    """The same pairs with precomputing off: every request scores its user live (the cost
    of the first request after a user's history changed)."""
    server = ServerProcess(home, threads=8, DISCERNER_PRECOMPUTE_DEPTH="0")
    try:
        server.start()
        session = _session(server)
        _wait_ready(session, server.url)
        script = _recs_script(home, session, sizes)
        _wrk(server.url, min(duration, 5), script, connections=8)  # warm-up, not counted
        session.close()
        return _pairs(server, script, duration, rounds)
    finally:
        server.stop()


def _ratio(pairs: list[tuple]) -> float:
    return statistics.median(recs["rps"] / health["rps"] for health, recs in pairs)


def _report(sizes, ready, single, pairs, rss, swap, live_pairs) -> int:
    ratio = _ratio(pairs)
    load_s = ready["model"].get("load_seconds", float("nan"))
    checks = {
        "p50": single["p50_ms"] < TARGETS["p50_ms"],
        "p99": single["p99_ms"] < TARGETS["p99_ms"],
        "ratio": ratio >= TARGETS["ratio"],
        "load": load_s < TARGETS["load_s"],
        "swap": swap["failed"] == 0 and swap["version_after"] == "discerner/2",
    }
    print(
        f"Store: {sizes['n_users']:,} users, {sizes['n_products']:,} products, "
        f"{sizes['n_activities']:,} activities; champion {ready['model']['version']} "
        f"(PureSVD 64); wrk over loopback keep-alive; medians of {len(pairs)} rounds.\n"
    )
    print("| measure | value | target | ok |")
    print("|---|---|---|---|")
    print(
        f"| 1 client: top-10 latency | p50 {single['p50_ms']:.2f} ms, p99 "
        f"{single['p99_ms']:.2f} ms (runs: {', '.join(f'{v:.1f}' for v in single['p99_runs'])}; "
        f"{single['rps']:,.0f} req/s) | p50 < 3 ms, p99 < 15 ms | "
        f"{_mark(checks['p50'] and checks['p99'])} |"
    )
    health = statistics.median(h["rps"] for h, _ in pairs)
    recs = statistics.median(r["rps"] for _, r in pairs)
    print(
        f"| 8 clients: recs vs /health | {recs:,.0f} vs {health:,.0f} req/s, ratio "
        f"{ratio:.2f} | >= 0.6 | {_mark(checks['ratio'])} |"
    )
    live = statistics.median(r["rps"] for _, r in live_pairs)
    live_health = statistics.median(h["rps"] for h, _ in live_pairs)
    print(
        f"| same, precomputing off (every user scored live) | {live:,.0f} vs {live_health:,.0f} "
        f"req/s, ratio {_ratio(live_pairs):.2f} | reported | |"
    )
    print(
        f"| loading a model version (its artifacts, as the server timed it) | {load_s:.2f} s "
        f"| < 3 s | "
        f"{_mark(checks['load'])} |"
    )
    print(
        f"| process start to /health 200, to /ready 200 | {ready['start_to_health_s']:.1f} s, "
        f"{ready['start_to_ready_s']:.1f} s (store open, MLflow import, load) | reported | |"
    )
    built = ready["precomputed"]
    print(
        f"| top {built.get('depth')} lists precomputed after load | {built.get('users', 0):,} "
        f"users in {built.get('seconds', float('nan')):.1f} s ({built['state']}) | reported | |"
    )
    print(f"| server (worker) memory | {rss:,.0f} MB RSS | reported | |")
    print(
        f"| swap during load | {swap['completed']:,} requests, {swap['failed']} non-2xx; "
        f"{swap['version_after']} answering {swap['swap_s']:.1f} s after SIGHUP | 0 non-2xx | "
        f"{_mark(checks['swap'])} |"
    )
    return 0 if all(checks.values()) else 1


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    sys.exit(main())
