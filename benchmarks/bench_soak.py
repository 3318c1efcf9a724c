"""Soak benchmark: 32 clients run a mixed workload against one `discerner serve` for a fixed time.

Usage: `python -m benchmarks.bench_soak [--quick] [--duration S] [--clients N] [--threads T]`.

A real server (gunicorn, one worker process, `--threads` request threads) runs over loopback on
a fresh data folder holding a generated shop. Each client thread keeps one connection and loops
until the time is up, picking at random: recommendations, an activity POST, a user's
activities, a page of users, a new user, or a login (scrypt, so rare). The server's resident
memory (master and worker) is sampled every second.

Reported: requests per second and latency percentiles per kind of request, errors, RSS over
time. Exits 1 when a target is missed: any 5xx or connection error; an acknowledged write
missing from the store at the end; memory not levelling off (the growth over the last third of
the run above half the growth over the first third, with an 8 MiB allowance for noise).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from tqdm.auto import tqdm

from serving.runtime.launch import ServerProcess

USERNAME, PASSWORD = "soak", "soak benchmark password"
USERS, PRODUCTS, ACTIVITIES = 500, 200, 5_000
# (kind, weight): reads dominate, as they do for a recommendation service.
MIX = (
    ("recs", 40),
    ("post_activity", 25),
    ("list_activities", 15),
    ("list_users", 12),
    ("create_user", 6),
    ("login", 2),
)
MEMORY_ALLOWANCE = 8 << 20


@dataclass
class Tally:
    """One client's observations: (kind, status, seconds) per request; 0 = no answer."""

    requests: list[tuple[str, int, float]] = field(default_factory=list)
    acknowledged_activities: int = 0


def prepare(home: Path) -> None:
    """A data folder with a generated shop and the benchmark's account."""
    from discerner import config, datasets
    from discerner.security import hash_password
    from discerner.store import Store

    data = datasets.generate(n_users=USERS, n_products=PRODUCTS, n_activities=ACTIVITIES, seed=7)
    with Store.open(config.store_dir(config.ensure_home(home))) as store:
        for category in data.products.sort_values("id")["category"]:
            store.create_product(attributes={"category": category})
        store.import_interactions(data.activities, progress=False)
        store.create_account(USERNAME, hash_password(PASSWORD))


def _login(session: requests.Session, url: str) -> requests.Response:
    return session.post(url + "/token", data={"username": USERNAME, "password": PASSWORD})


def _request(
    kind: str, session: requests.Session, url: str, rng: random.Random
) -> requests.Response:
    user, product = rng.randint(1, USERS), rng.randint(1, PRODUCTS)
    if kind == "recs":
        return session.get(f"{url}/users/{user}/recs?n=10")
    if kind == "post_activity":
        body = {"score": rng.choice([1.0, 2.0, 5.0])}
        return session.post(f"{url}/users/{user}/products/{product}/activities", json=body)
    if kind == "list_activities":
        return session.get(f"{url}/activities?user_id={user}&limit=50")
    if kind == "list_users":
        return session.get(f"{url}/users?limit=100&after={rng.randint(0, USERS)}")
    if kind == "create_user":
        return session.post(f"{url}/users", json={"plan": rng.choice(["free", "pro"])})
    return _login(session, url)


def client(url: str, token: str, seed: int, deadline: float, tally: Tally) -> None:
    """Run random requests of `MIX` until `deadline`, recording each."""
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Token {token}"
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                status = _request(kind, session, url, rng).status_code
            except requests.RequestException:
                status = 0
            tally.requests.append((kind, status, time.perf_counter() - started))
            if kind == "post_activity" and status == 201:
                tally.acknowledged_activities += 1


def run_load(
    server: ServerProcess, clients: int, duration: float
) -> tuple[list[Tally], list[int], float]:
    """Drive the server; returns the tallies, RSS samples (one a second) and the elapsed time."""
    with requests.Session() as session:  # one token for all: logins are part of the mix
        token = _login(session, server.url).json()["token"]
    deadline = time.monotonic() + duration
    tallies = [Tally() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=client, args=(server.url, token, n, deadline, tallies[n]), daemon=True
        )
        for n in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    samples = [server.rss()]
    with tqdm(total=int(duration), unit="s", desc="soak", leave=False) as bar:
        while time.monotonic() < deadline:
            time.sleep(1.0)
            samples.append(server.rss())
            bar.update(1)
    for thread in threads:
        thread.join(timeout=60)
    return tallies, samples, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (0-1) of `values` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency_table(tallies: list[Tally], elapsed: float) -> tuple[list[str], dict[str, int]]:
    """Markdown rows per kind of request, and the error counts."""
    rows = [
        "| request | count | req/s | p50 ms | p95 ms | p99 ms | max ms | non-2xx | 5xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = {"5xx": 0, "no answer": 0}
    everything = [r for t in tallies for r in t.requests]
    for kind in [k for k, _ in MIX] + ["all"]:
        mine = [r for r in everything if kind in ("all", r[0])]
        if not mine:
            continue
        ms = [seconds * 1000 for _, _, seconds in mine]
        server_errors = sum(status >= 500 for _, status, _ in mine)
        other = sum(not 200 <= status < 300 for _, status, _ in mine)
        rows.append(
            f"| {kind} | {len(mine)} | {len(mine) / elapsed:.0f} | {percentile(ms, 0.5):.1f} |"
            f" {percentile(ms, 0.95):.1f} | {percentile(ms, 0.99):.1f} | {max(ms):.0f} |"
            f" {other} | {server_errors} |"
        )
        if kind == "all":
            errors = {"5xx": server_errors, "no answer": sum(s == 0 for _, s, _ in mine)}
    return rows, errors


def memory_verdict(samples: list[int]) -> tuple[list[str], bool]:
    """RSS at the thirds of the run, and whether growth levelled off."""
    third = max(1, len(samples) // 3)
    first_growth = samples[third] - samples[0]
    last_growth = samples[-1] - samples[-1 - third]
    levelled = last_growth <= max(first_growth / 2, MEMORY_ALLOWANCE)
    mib = [f"{samples[i] / 2**20:.0f}" for i in (0, third, len(samples) - 1 - third, -1)]
    rows = [
        "| RSS MiB: start | after 1/3 | at 2/3 | end | growth 1st third | growth last third |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {' | '.join(mib)} | {first_growth / 2**20:+.1f} | {last_growth / 2**20:+.1f} |",
    ]
    return rows, levelled


def stored_activities(url: str) -> int:
    """How many activities the server holds (its `X-Total-Count`)."""
    with requests.Session() as session:
        token = _login(session, url).json()["token"]
        response = session.get(
            f"{url}/activities?limit=1", headers={"Authorization": f"Token {token}"}
        )
        return int(response.headers["X-Total-Count"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 s instead of 60 s")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client connections")
    parser.add_argument("--threads", type=int, default=8, help="server request threads")
    args = parser.parse_args(argv)
    duration = args.duration or (10.0 if args.quick else 60.0)
    with tempfile.TemporaryDirectory(prefix="discerner-soak-") as folder:
        home = Path(folder) / "home"
        prepare(home)
        server = ServerProcess(home, args.threads)
        try:
            server.start()
            tallies, samples, elapsed = run_load(server, args.clients, duration)
            missing = ACTIVITIES + sum(t.acknowledged_activities for t in tallies)
            missing -= stored_activities(server.url)
        finally:
            exit_code = server.stop()
    return report(args, duration, tallies, samples, elapsed, missing, exit_code)


def report(
    args: argparse.Namespace,
    duration: float,
    tallies: list[Tally],
    samples: list[int],
    elapsed: float,
    missing: int,
    exit_code: int,
) -> int:
    """Print the tables and the verdicts; returns the exit status (1 when a target is missed)."""
    rows, errors = latency_table(tallies, elapsed)
    memory_rows, levelled = memory_verdict(samples)
    print(f"{args.clients} clients, {args.threads} server threads, {duration:.0f} s, loopback\n")
    print("\n".join(rows) + "\n\n" + "\n".join(memory_rows) + "\n")
    checks = {
        "zero 5xx": errors["5xx"] == 0,
        "every request answered": errors["no answer"] == 0,
        "acknowledged activities all stored": missing == 0,
        "memory levels off": levelled,
        "clean shutdown": exit_code == 0,
    }
    print("| target | met |\n|---|---|")
    for name, met in checks.items():
        print(f"| {name} | {'yes' if met else 'NO'} |")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
