"""Recent traffic per route: request rates and latency percentiles over the last minutes.

Prometheus counters only grow, so a rate needs two scrapes; the admin page wants "now" without
a Prometheus server. `RecentTraffic` keeps, per 10-second slot and route, the request count,
the 4xx and 5xx counts and the latency histogram's bucket counts (the same buckets as
`/metrics`), for the last 15 minutes: memory is bounded by routes × slots, whatever the load.
Percentiles are read from the buckets as Prometheus's `histogram_quantile` reads them (linear
within a bucket). Each process counts the requests it answered: with several gunicorn workers,
one worker's figures are its share only.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SLOT_SECONDS = 10.0
KEEP_SECONDS = 900.0
QUANTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}


def bucket_quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The q-quantile of observations counted in histogram buckets, interpolated linearly.

    Args:
        bounds: The buckets' upper bounds, ascending; the first bucket starts at 0.
        counts: Observations per bucket (not cumulative): one per bound, plus one more for
            those above the last bound.
        q: The quantile, 0 to 1.

    Returns:
        The estimate, or None without observations. One that falls above the last bound is
        that bound (the best known lower limit), as Prometheus answers.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index == len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]


@dataclass
class _Tally:
    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    buckets: list[int] = field(default_factory=list)

    def add(self, other: _Tally) -> None:
        self.requests += other.requests
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]


class RecentTraffic:
    """Requests of the last `keep_seconds`, per (method, route), in slots of `slot_seconds`.

    Args:
        bounds: Upper bounds of the latency buckets, in seconds.
        slot_seconds: The time resolution.
        keep_seconds: How far back a summary can look.
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        bounds: Sequence[float],
        slot_seconds: float = SLOT_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.bounds = tuple(bounds)
        self.slot_seconds = slot_seconds
        self.keep_slots = math.ceil(keep_seconds / slot_seconds)
        self.clock = clock
        self.started = clock()
        self._slots: dict[int, dict[tuple[str, str], _Tally]] = {}
        self._lock = threading.Lock()

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request (labels from a fixed set, as `Metrics.observe`'s)."""
        slot = int(self.clock() // self.slot_seconds)
        bucket = bisect.bisect_left(self.bounds, seconds)  # `le` buckets: a bound counts in
        with self._lock:
            routes = self._slots.get(slot)
            if routes is None:
                routes = self._slots[slot] = {}
                self._forget(slot)
            tally = routes.get((method, endpoint))
            if tally is None:
                tally = routes[(method, endpoint)] = _Tally(buckets=[0] * (len(self.bounds) + 1))
            tally.requests += 1
            tally.client_errors += 400 <= status < 500
            tally.server_errors += status >= 500
            tally.buckets[bucket] += 1

    def _forget(self, slot: int) -> None:
        for old in [s for s in self._slots if s <= slot - self.keep_slots]:
            del self._slots[old]

    def summary(self, window_seconds: float) -> dict:
        """Rates and latency percentiles of the requests answered in the last `window_seconds`.

        The window covers whole slots: the current one and the ones before it, at most
        `keep_seconds` back; a process younger than the window divides by its age instead.

        Returns:
            {"window_seconds", "covered_seconds", "routes": [{"method", "endpoint",
            "requests", "per_second", "client_errors", "server_errors", "p50_ms", "p95_ms",
            "p99_ms"}, ...]}, busiest route first (then by name).
        """
        now = self.clock()
        slots = max(1, min(self.keep_slots, math.ceil(window_seconds / self.slot_seconds)))
        first = int(now // self.slot_seconds) - slots + 1
        merged: dict[tuple[str, str], _Tally] = {}
        with self._lock:
            for slot, routes in self._slots.items():
                if slot < first:
                    continue
                for key, tally in routes.items():
                    into = merged.setdefault(key, _Tally(buckets=[0] * len(tally.buckets)))
                    into.add(tally)
        covered = min(now - first * self.slot_seconds, now - self.started)
        covered = max(covered, 1e-9)
        rows = [self._row(key, tally, covered) for key, tally in merged.items()]
        rows.sort(key=lambda row: (-row["requests"], row["endpoint"], row["method"]))
        return {
            "window_seconds": slots * self.slot_seconds,
            "covered_seconds": round(covered, 3),
            "routes": rows,
        }

    def _row(self, key: tuple[str, str], tally: _Tally, covered: float) -> dict:
        row = {
            "method": key[0],
            "endpoint": key[1],
            "requests": tally.requests,
            "per_second": tally.requests / covered,
            "client_errors": tally.client_errors,
            "server_errors": tally.server_errors,
        }
        for name, q in QUANTILES.items():
            value = bucket_quantile(self.bounds, tally.buckets, q)
            row[name] = None if value is None else value * 1000
        return row
