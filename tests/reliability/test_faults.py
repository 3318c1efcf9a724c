"""Faults: a full or read-only disk under the write-ahead log, a corrupt store file at start."""

from __future__ import annotations

import contextlib
import errno
import os

import pytest

from discerner import config
from discerner.errors import StoreError
from discerner.store import Store
from discerner.store import log as store_log


@pytest.fixture
def failing_disk(monkeypatch):
    """`fail(code)`: from now on the log's writes put half their bytes on disk, then raise."""

    def fail(code: int) -> None:
        def write_half(fd: int, data: bytes) -> None:
            os.write(fd, data[: len(data) // 2])
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(store_log, "_write_all", write_half)

    return fail


def _users(api) -> list[int]:
    response = api.get("/users")
    assert response.status_code == 200
    return [user["id"] for user in response.get_json()]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failing_disk_makes_writes_503_keeps_reads_and_loses_nothing_acknowledged(
    app, api, store, failing_disk, code
):
    assert api.post("/users").status_code == 201
    assert api.post("/products", json={"category": "a"}).status_code == 201
    assert api.post("/users/1/products/1/activities").status_code == 201
    failing_disk(code)

    refused = api.post("/users")
    assert refused.status_code == 503
    message = refused.get_json()["error"]["message"]
    assert message == (
        f"the data store cannot accept writes now ({os.strerror(code)}); reads still work"
    )
    assert "/" not in message  # no server path
    later = api.post("/users/1/products/1/activities", json={"score": 2})
    assert later.status_code == 503
    assert api.patch("/products/1", json={"hidden": True}).status_code == 503
    assert "hidden" not in api.get("/products/1").get_json()  # the refused patch is not seen
    assert 1 in _users(api)
    assert api.get("/activities").status_code == 200
    assert api.get("/users/1/recs").status_code == 200

    with pytest.raises(StoreError):  # closing flushes the log, which still fails
        app.extensions["discerner"].close()
    with Store.open(store.path, compact_interval=0) as reopened:  # the torn half is dropped
        assert [u["id"] for u in reopened.list_users()] == [1]
        activities = reopened.list_activities()
        assert [(a["user_id"], a["product_id"], a["score"]) for a in activities] == [(1, 1, 1.0)]
        assert reopened.product_rules().hidden == frozenset()


def test_the_503_is_in_the_document_of_every_write(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            writes = method in ("post", "patch", "delete") and path != "/token"
            assert ("503" in operation["responses"]) == writes or path == "/ready", (path, method)


@pytest.fixture
def stored_home(tmp_path):
    """A data folder whose store holds two users, one activity and a compacted snapshot."""
    home = config.ensure_home(tmp_path / "home")
    with Store.open(config.store_dir(home), compact_interval=0) as store:
        store.create_user()
        store.create_product()
        store.add_activity(1, 1)
        store.compact()
        store.create_user()  # in the log, after the snapshot
    return home


def _damage_middle(path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _files(home, pattern):
    found = sorted(config.store_dir(home).glob(pattern))
    assert found, pattern
    return found[0]


@pytest.mark.parametrize("pattern", ["snapshots/*/activities.parquet", "manifest.json"])
def test_serve_on_a_corrupt_store_file_exits_naming_the_file(stored_home, cli, pattern):
    damaged = _files(stored_home, pattern)
    _damage_middle(damaged)
    done = cli("serve", "--port", "0", home=stored_home)
    assert done.returncode != 0
    output = done.stdout.decode() + done.stderr.decode()
    assert str(damaged) in output
    assert damaged.exists()  # nothing was repaired or deleted behind the operator's back


def test_a_write_refused_with_503_is_not_visible_to_readers(app, api, failing_disk):
    assert api.post("/users").status_code == 201
    failing_disk(errno.ENOSPC)
    try:
        assert api.post("/users").status_code == 503
        assert _users(api) == [1]
    finally:
        with contextlib.suppress(StoreError):  # closing flushes the log, which still fails
            app.extensions["discerner"].close()
