"""Recent traffic: percentiles read from histogram buckets, rates over a window, the endpoint."""

import pytest

from serving.runtime.traffic import RecentTraffic, bucket_quantile

BOUNDS = (0.01, 0.1, 1.0)


def test_bucket_quantile_hand_computed():
    counts = [2, 6, 2, 0]  # 2 up to 10 ms, 6 up to 100 ms, 2 up to 1 s, none above
    # p50: rank 5 falls in the 2nd bucket, 3 of its 6 in: 0.01 + 0.09 * 3/6 = 0.055.
    assert bucket_quantile(BOUNDS, counts, 0.5) == pytest.approx(0.055)
    # p95: rank 9.5, 1.5 of the 3rd bucket's 2: 0.1 + 0.9 * 0.75 = 0.775.
    assert bucket_quantile(BOUNDS, counts, 0.95) == pytest.approx(0.775)
    # p10: rank 1, half of the first bucket, which starts at 0: 0.005.
    assert bucket_quantile(BOUNDS, counts, 0.1) == pytest.approx(0.005)
    assert bucket_quantile(BOUNDS, [0, 0, 0, 0], 0.5) is None
    # Above the last bound nothing is known but "more than 1 s": that bound, as Prometheus.
    assert bucket_quantile(BOUNDS, [0, 0, 1, 3], 0.99) == 1.0


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rates_and_percentiles_over_the_window_hand_computed():
    clock = Clock()
    traffic = RecentTraffic(BOUNDS, slot_seconds=10, keep_seconds=60, clock=clock)
    clock.now = 1100.0  # 100 s after the start
    for seconds, status in ((0.005, 200), (0.05, 200), (0.05, 404), (2.0, 500)):
        traffic.observe("GET", "users.get_user", status, seconds)
    traffic.observe("POST", "auth.token", 200, 0.5)
    clock.now = 1125.0
    # A 30 s window is the slots starting at 1100, 1110 and 1120: 25 s of them have passed.
    summary = traffic.summary(30)
    assert (summary["window_seconds"], summary["covered_seconds"]) == (30, 25)
    users, token = summary["routes"]  # busiest first
    assert (users["method"], users["endpoint"], users["requests"]) == ("GET", "users.get_user", 4)
    assert users["per_second"] == pytest.approx(4 / 25)
    assert (users["client_errors"], users["server_errors"]) == (1, 1)
    # Buckets [1, 2, 0, 1]: p50 is rank 2, 1 of the 2nd bucket's 2: 10 + 90 * 1/2 = 55 ms.
    assert users["p50_ms"] == pytest.approx(55)
    assert users["p99_ms"] == pytest.approx(1000)  # the 2 s request lies above the last bound
    assert (token["requests"], token["p50_ms"]) == (1, pytest.approx(550))  # 100 + 900/2
    # 20 s later the 10 s window holds only the slot starting at 1140: nothing in it.
    clock.now = 1145.0
    assert traffic.summary(10)["routes"] == []
    # A minute on, a new slot drops those older than `keep_seconds`: memory stays bounded.
    clock.now = 1200.0
    traffic.observe("GET", "health.health", 200, 0.001)
    assert list(traffic._slots) == [120]
    assert [r["endpoint"] for r in traffic.summary(600)["routes"]] == ["health.health"]


def test_a_young_process_divides_by_its_age():
    clock = Clock()
    traffic = RecentTraffic(BOUNDS, clock=clock)
    clock.now = 1004.0  # 4 s old, asked about 5 minutes
    for _ in range(8):
        traffic.observe("GET", "health.health", 200, 0.001)
    summary = traffic.summary(300)
    assert summary["covered_seconds"] == 4
    assert summary["routes"][0]["per_second"] == pytest.approx(2.0)


def test_the_traffic_endpoint_counts_this_process_requests(api, client):
    for _ in range(3):
        client.get("/health")
    client.get("/no/such/page")
    body = api.get("/admin/api/traffic?minutes=1").get_json()
    routes = {(r["method"], r["endpoint"]): r for r in body["routes"]}
    assert routes[("GET", "health.health")]["requests"] == 3
    unmatched = routes[("GET", "unmatched")]
    assert (unmatched["requests"], unmatched["client_errors"]) == (1, 1)
    assert body["window_seconds"] == 60 and body["process"] > 0
    for bad in ("?minutes=0", "?minutes=16", "?minutes=1.5"):
        assert api.get("/admin/api/traffic" + bad).status_code == 400
