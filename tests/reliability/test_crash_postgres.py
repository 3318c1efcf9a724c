"""Crashes on PostgreSQL under concurrent HTTP writes: SIGKILL of API workers, `pg_ctl stop -m
immediate` of the database, SIGKILL of the whole server; every acknowledged write is there once."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time

import pytest
import requests
from live import LiveServer

from discerner.localpg import LocalPostgres, PostgresNotFoundError

pytestmark = pytest.mark.slow
WRITERS = 6


@pytest.fixture
def database():
    """A PostgreSQL server of this test alone (it is crashed), with fsync on, as in production."""
    folder = tempfile.mkdtemp(prefix="discerner-crash-")
    try:
        server = LocalPostgres(folder)
    except PostgresNotFoundError as exc:
        shutil.rmtree(folder)
        pytest.skip(f"PostgreSQL is not installed here: {exc}")
    server.start()
    yield server
    server.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)


class Writers:
    """Threads that POST users (named by external_id) and activities (named by a unique score)
    until stopped, through connection errors and 5xx; every 2xx is recorded."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.users: list[tuple[int, str]] = []
        self.activities: list[tuple[int, int, int, float]] = []
        self.failures = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _write(self, number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                self._one(session, number, i)
            except requests.RequestException:
                self.failures += 1
                session = requests.Session()
                session.headers["Authorization"] = f"Token {self.token}"
                time.sleep(0.05)

    def _one(self, session: requests.Session, number: int, i: int) -> None:
        if i % 3 == 0:
            name = f"w{number}-{i}"
            response = session.post(self.url + "/users", json={"external_id": name}, timeout=10)
            if response.status_code == 201:
                self.users.append((response.json()["id"], name))
            return
        score = number * 1_000_000 + i
        path = f"/users/{1 + i % 5}/products/{1 + number % 3}/activities"
        response = session.post(self.url + path, json={"score": score}, timeout=10)
        if response.status_code == 201:
            body = response.json()
            self.activities.append((body["id"], body["user_id"], body["product_id"], score))
        elif response.status_code >= 500:
            self.failures += 1
            time.sleep(0.05)


def _everything(server: LiveServer, token: str, resource: str) -> list[dict]:
    found, after = [], 0
    while True:
        response = requests.get(
            f"{server.url}/{resource}?limit=10000&after={after}",
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        )
        assert response.status_code == 200
        found += response.json()
        if "Link" not in response.headers:
            return found
        after = found[-1]["id"]


def _grows(writers: Writers, seconds: float) -> int:
    before = len(writers.activities)
    time.sleep(seconds)
    return len(writers.activities) - before


def test_acknowledged_writes_survive_killed_workers_and_a_crashed_database_once(database, tmp_path):
    server = LiveServer(tmp_path / "home", workers=2, DISCERNER_STORE=database.url).start()
    server.add_account()
    session = server.login()
    token = session.headers["Authorization"].split()[1]
    for resource in ["users"] * 5 + ["products"] * 3:
        assert session.post(f"{server.url}/{resource}").status_code == 201

    with Writers(server.url, token) as writers:
        assert _grows(writers, 1.5) > 20, "the load was too light to test anything"
        server.kill_workers()  # SIGKILL: the master starts new workers on the same database
        assert _grows(writers, 6.0) > 20, "new workers did not take over"
        database.stop("immediate")  # a crash of PostgreSQL under the writes
        time.sleep(1.0)
        database.start()
        assert _grows(writers, 6.0) > 20, "the workers did not reconnect"
        server.kill()  # SIGKILL of master and workers together
    restarted = LiveServer(tmp_path / "home", DISCERNER_STORE=database.url)
    restarted.port, restarted.url = server.port, server.url
    restarted.start()
    try:
        users = {u["id"]: u.get("external_id") for u in _everything(restarted, token, "users")}
        activities = _everything(restarted, token, "activities")
    finally:
        assert restarted.stop() == 0
    stored = {(a["id"], a["user_id"], a["product_id"], a["score"]) for a in activities}
    assert set(writers.users) <= set(users.items())
    assert set(writers.activities) <= stored
    scores = [a["score"] for a in activities]  # nothing twice: each unique score once
    assert len(scores) == len(set(scores))
    names = [name for name in users.values() if name is not None]
    assert len(names) == len(set(names))
    # Stored without an answer: only writes in flight at one of the three crashes.
    assert len(stored) - len(writers.activities) <= 3 * WRITERS * 2
    assert writers.failures > 0  # the crashes were felt
