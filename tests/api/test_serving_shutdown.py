"""`discerner serve` on SIGTERM: requests in flight finish, the store closes cleanly."""

from __future__ import annotations

import threading
import time

import requests

from discerner import config
from discerner.client import Client
from discerner.store import Store


def test_sigterm_finishes_in_flight_writes_and_closes_the_store(new_server):
    server = new_server()
    server.add_account("alice", "pw")
    with Client(server.url, "alice", "pw") as api:
        user, product = api.create_user(), api.create_product()
        rows = [{"user_id": user, "product_id": product, "score": 2.0}] * 5_000
        results = []

        def post_bulk():
            try:
                results.append(len(api.add_activities(rows)))
            except requests.ConnectionError:
                results.append(None)  # refused: never acknowledged

        idle = requests.Session()  # an idle keep-alive connection must not hold shutdown up
        assert idle.get(server.url + "/health").ok
        writer = threading.Thread(target=post_bulk)
        writer.start()
        time.sleep(0.05)
        started = time.monotonic()
        assert server.stop(timeout=20) == 0
        writer.join()
        idle.close()
    assert time.monotonic() - started < 10
    assert "store closed" in server.log.read_text()
    acknowledged = sum(count for count in results if count)
    with Store.open(config.store_dir(server.home)) as store:  # the writer lock was released
        assert store.count_activities() == acknowledged
