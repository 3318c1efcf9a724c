"""HTTP API benchmark: durable activity POSTs vs GET /health on one server, and a bulk POST.

Usage: `python -m benchmarks.bench_api [--quick] [--rounds N] [--duration S] [--threads T]`.

A real `discerner serve` (gunicorn, one worker process) runs on a fresh data folder over
loopback. Each round drives it with 16 concurrent keep-alive connections for `duration`
seconds, first `GET /health`, then `POST /users/{u}/products/{p}/activities` (random ids, each
answered only once durable), so both see the same machine load; the ratio is taken per round
and its median reported. Load comes from `wrk` (`apt-get install -y wrk`); without it a Python
thread pool is used and the table says so (Python may then be the bottleneck). Then a bulk
`POST /activities` of 10,000 rows is timed several times. Finally the store's activity count
is checked against the POSTs acknowledged: none may be missing.

Exits 1 when a target of issue 4 is missed: ratio >= 0.5, bulk median < 1 s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from serving.runtime.launch import ServerProcess

BENCH_PASSWORD = "benchmark password"

CONNECTIONS = 16
USERS = PRODUCTS = 200
BULK_ROWS = 10_000
TARGETS = {"ratio": 0.5, "bulk_s": 1.0}

POST_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"score": 2.5}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token %(token)s"
request = function()
  local path = "/users/" .. math.random(%(users)d) .. "/products/" ..
      math.random(%(products)d) .. "/activities"
  return wrk.format(nil, path)
end
"""


def _setup(server: ServerProcess) -> str:
    """An account, users and products; returns a token."""
    server.account("bench", BENCH_PASSWORD)
    session = server.login("bench", BENCH_PASSWORD)
    token = session.headers["Authorization"].removeprefix("Token ")
    for path, count in (("/users", USERS), ("/products", PRODUCTS)):
        for _ in range(count):
            session.post(server.url + path).raise_for_status()
    session.close()
    return token


def _wrk(url: str, duration: float, script: Path | None, connections: int = CONNECTIONS) -> dict:
    """Run wrk; returns requests/s, p50/p99 latency (ms), completed and non-2xx counts."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "completed": int(re.search(r"(\d+) requests in", out).group(1)),
        "failed": int(non_2xx.group(1)) if non_2xx else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _python_load(url: str, duration: float, token: str | None) -> dict:
    """The fallback load generator: 16 threads, one keep-alive session each."""
    import random

    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker() -> None:
        session = requests.Session()
        if token:
            session.headers["Authorization"] = "Token " + token
        mine = []
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            if token:
                target = url.format(u=random.randint(1, USERS), p=random.randint(1, PRODUCTS))
                response = session.post(target, json={"score": 2.5})
            else:
                response = session.get(url)
            mine.append(time.perf_counter() - started)
            if not response.ok:
                with lock:
                    failed[0] += 1
        with lock:
            latencies.extend(mine)
        session.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / duration,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[int(len(ordered) * 0.99)],
        "completed": len(ordered),
        "failed": failed[0],
    }


def _load_round(server: ServerProcess, token: str, duration: float, script: Path | None) -> tuple:
    if script is not None:
        health = _wrk(server.url + "/health", duration, None)
        posts = _wrk(server.url, duration, script)
    else:
        health = _python_load(server.url + "/health", duration, None)
        posts = _python_load(server.url + "/users/{u}/products/{p}/activities", duration, token)
    return health, posts


def _bulk_seconds(server: ServerProcess, token: str, repeats: int) -> list[float]:
    import random

    session = requests.Session()
    session.headers["Authorization"] = "Token " + token
    times = []
    for _ in range(repeats):
        rows = [
            {"user_id": random.randint(1, USERS), "product_id": random.randint(1, PRODUCTS)}
            for _ in range(BULK_ROWS)
        ]
        started = time.perf_counter()
        response = session.post(server.url + "/activities", json=rows)
        times.append(time.perf_counter() - started)
        assert response.status_code == 201, response.text
    session.close()
    return times


def _stored_activities(server: ServerProcess, token: str) -> int:
    response = requests.get(
        server.url + "/activities?limit=1", headers={"Authorization": "Token " + token}
    )
    return int(response.headers["X-Total-Count"])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a markdown table; 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short rounds, for a smoke run")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per load run")
    parser.add_argument("--threads", type=int, default=8, help="server request threads")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 3)
    duration = args.duration or (3.0 if args.quick else 10.0)
    has_wrk = shutil.which("wrk") is not None
    if not has_wrk:
        print("wrk is missing (apt-get update && apt-get install -y wrk): using Python threads,")
        print("which may be the bottleneck; the ratio is still measured side by side.\n")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as folder:
        server = ServerProcess(Path(folder) / "home", args.threads)
        try:
            server.start()
            token = _setup(server)
            script = None
            if has_wrk:
                script = Path(folder) / "post.lua"
                values = {"token": token, "users": USERS, "products": PRODUCTS}
                script.write_text(POST_SCRIPT % values)
            results = [_load_round(server, token, duration, script) for _ in range(rounds)]
            bulk = _bulk_seconds(server, token, repeats=3 if args.quick else 5)
            stored = _stored_activities(server, token)
        finally:
            server.stop()
    return _report(results, bulk, stored, has_wrk, duration)


def _report(results, bulk, stored, has_wrk, duration) -> int:
    ratios = [posts["rps"] / health["rps"] for health, posts in results]
    acknowledged = sum(p["completed"] - p["failed"] for _, p in results) + BULK_ROWS * len(bulk)
    failed = sum(h["failed"] + p["failed"] for h, p in results)
    ratio = statistics.median(ratios)
    bulk_s = statistics.median(bulk)
    tool = "wrk -t2 -c16" if has_wrk else "Python, 16 threads"
    print(f"Load: {tool}, {len(results)} rounds of {duration:g} s each; medians.\n")
    print("| measure | value | target | ok |")
    print("|---|---|---|---|")
    for name, key in (("GET /health", 0), ("POST activity", 1)):
        runs = [r[key] for r in results]
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        print(f"| {name} | {rps:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms | | |")
    ok_ratio = ratio >= TARGETS["ratio"]
    ok_bulk = bulk_s < TARGETS["bulk_s"]
    ok_durable = stored >= acknowledged and failed == 0
    print(f"| POST / health ratio | {ratio:.2f} | >= {TARGETS['ratio']} | {_mark(ok_ratio)} |")
    print(
        f"| bulk POST of {BULK_ROWS:,} | {bulk_s:.3f} s | < {TARGETS['bulk_s']} s | "
        f"{_mark(ok_bulk)} |"
    )
    print(
        f"| acknowledged writes stored | {stored:,} stored >= {acknowledged:,} acknowledged, "
        f"{failed} non-2xx | all | {_mark(ok_durable)} |"
    )
    return 0 if ok_ratio and ok_bulk and ok_durable else 1


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    sys.exit(main())
