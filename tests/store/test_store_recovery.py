"""Durability: torn tails, corrupted records, crashes after imports, locks, readers in other
processes, and a writer killed mid-load."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from discerner.store import Store, StoreCorruptError, StoreLockedError
from discerner.store.log import HEADER, frame, read_log


def _only_log(path):
    (log,) = sorted((path / "log").glob("*.wal"))
    return log


def test_a_record_is_length_crc_and_payload(tmp_path):
    record = frame(b'{"s":1}')
    assert len(record) == HEADER.size + 7
    log = tmp_path / "x.wal"
    log.write_bytes(record + frame(b'{"s":2}'))
    records = [(0, b'{"s":1}'), (len(record), b'{"s":2}')]
    assert read_log(log, last=True) == (records, 2 * len(record), False)


def test_torn_tail_is_dropped_with_a_warning_and_writing_goes_on(path, shop, caplog):
    shop.add_activity(1, 1)
    log = _only_log(path)
    shop._engine.log.close()  # simulate the crash: no compaction, no clean close
    shop._engine.release_lock()
    shop._engine.closed = True
    good_size = log.stat().st_size
    with log.open("ab") as handle:
        handle.write(frame(b'{"s":7,"op":"acts","r":[[2,1,1,1.0,0]]}')[:-5])
    with caplog.at_level(logging.WARNING), Store.open(path, compact_interval=0) as again:
        assert "torn record" in caplog.text and str(log) in caplog.text
        assert again.count_activities() == 1 and log.stat().st_size == good_size
        again.add_activity(2, 2)
    with Store.open(path, readonly=True) as reader:
        assert [a["user_id"] for a in reader.list_activities()] == [1, 2]


def test_readonly_open_ignores_a_partial_record_being_written(path, shop):
    shop.add_activity(1, 1)
    shop._engine.log.flush()
    log = _only_log(path)
    with log.open("ab") as handle:
        handle.write(frame(b'{"s":99}')[:6])
    size = log.stat().st_size
    with Store.open(path, readonly=True) as reader:
        assert reader.count_activities() == 1
    assert log.stat().st_size == size


def test_a_corrupted_record_before_the_tail_names_file_and_offset(path, shop):
    for product in (1, 2, 3):
        shop.add_activity(1, product)
    shop._engine.log.close()
    shop._engine.release_lock()
    shop._engine.closed = True
    log = _only_log(path)
    data = bytearray(log.read_bytes())
    records, _, _ = read_log(log, last=True)
    second = records[-2][0]  # the last record but one
    data[second + HEADER.size + 3] ^= 0xFF
    log.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError) as caught:
        Store.open(path, compact_interval=0)
    assert caught.value.path == str(log) and caught.value.offset == second
    assert f"{log} at byte {second}" in str(caught.value)


def test_a_second_writer_process_gets_a_clear_lock_error(path, store):
    code = f"from discerner.store import Store; Store.open({str(path)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "StoreLockedError" in result.stderr and f"pid {os.getpid()}" in result.stderr
    with pytest.raises(StoreLockedError):
        Store.open(path)


def test_import_survives_reopen_before_and_after_compaction(path, store):
    frame = pd.DataFrame({"user_id": [5, 6], "product_id": [8, 8], "timestamp": [60, 120]})
    store.import_interactions(frame, progress=False)
    store.add_activity(5, 8, 2.0)
    expected = store.interactions()
    store._engine.log.close()  # crash: the segment is only in the log, not in a snapshot
    store._engine.release_lock()
    store._engine.closed = True
    with Store.open(path, compact_interval=0) as again:
        pd.testing.assert_frame_equal(again.interactions(), expected)
    assert list((path / "segments").iterdir()) == []  # folded into the snapshot by close
    with Store.open(path, readonly=True) as reader:
        pd.testing.assert_frame_equal(reader.interactions(), expected)


def test_background_compaction_folds_the_log(path):
    with Store.open(path, compact_interval=0.05, compact_bytes=200) as store:
        store.create_user()
        store.create_product()
        for _ in range(10):
            store.add_activity(1, 1)
        deadline = time.monotonic() + 10
        while not (path / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert json.loads((path / "manifest.json").read_text())["seq"] >= 3
        store.add_activity(1, 1)
    with Store.open(path, readonly=True) as reader:
        assert reader.count_activities() == 11


WRITER = textwrap.dedent(
    """
    import sys, threading
    from discerner.store import Store

    store = Store.open(sys.argv[1], compact_interval=0.2, compact_bytes=4096)
    store.create_user()
    store.create_product()
    lock = threading.Lock()

    def work(worker):
        for batch in range(100000):
            tag = worker * 100000 + batch
            rows = [{"user_id": 1, "product_id": 1, "score": float(tag)}] * 3
            ids = [a["id"] for a in store.add_activities(rows)]
            with lock:
                print(tag, *ids, flush=True)

    for worker in range(8):
        threading.Thread(target=work, args=(worker,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_killed_writer_loses_no_acknowledged_write_and_leaves_no_half_batch(path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    acknowledged = {}
    deadline = time.monotonic() + 60
    while len(acknowledged) < 600 and time.monotonic() < deadline:
        tag, *ids = map(int, proc.stdout.readline().split())
        acknowledged[tag] = ids
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with Store.open(path, compact_interval=0) as store:
        rows = pd.DataFrame(store.list_activities(limit=10**7))
    present = rows.groupby("score")["id"].apply(sorted).to_dict()
    for tag, ids in acknowledged.items():
        assert present.get(float(tag)) == ids
    assert all(len(ids) == 3 for ids in present.values())
    assert rows["id"].is_unique


def test_readonly_opens_racing_writes_and_compactions_see_every_acknowledged_write(path, shop):
    import threading

    stop, acknowledged, errors = threading.Event(), [0], []

    def loop(step):
        try:
            while not stop.is_set():
                step()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    def write():
        shop.add_activity(1, 1)
        acknowledged[0] += 1

    threads = [threading.Thread(target=loop, args=(f,)) for f in (write, shop.compact)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(15):
            before = acknowledged[0]
            with Store.open(path, readonly=True) as reader:
                ids = [a["id"] for a in reader.list_activities(limit=10**6)]
                assert len(ids) >= before and ids == list(range(1, len(ids) + 1))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []


def test_a_damaged_snapshot_or_missing_segment_is_a_clear_error(path, store):
    store.import_interactions(pd.DataFrame({"user_id": [1], "product_id": [1]}), progress=False)
    store._engine.log.close()  # crash before compaction: the segment is still needed
    store._engine.release_lock()
    store._engine.closed = True
    (segment,) = (path / "segments").iterdir()
    segment.rename(path / "elsewhere")
    with pytest.raises(StoreCorruptError, match="missing") as caught:
        Store.open(path, compact_interval=0)
    assert caught.value.path == str(segment)
    (path / "elsewhere").rename(segment)
    Store.open(path, compact_interval=0).close()  # folds the segment into a snapshot
    manifest = json.loads((path / "manifest.json").read_text())
    activities = path / manifest["snapshot"] / "activities.parquet"
    activities.write_bytes(b"not parquet at all")
    with pytest.raises(StoreCorruptError, match="damaged") as caught:
        Store.open(path, compact_interval=0)
    assert caught.value.path == str(activities)


def test_a_failed_compaction_loses_nothing_and_the_next_one_cleans_up(path, shop, monkeypatch):
    from discerner.store import snapshot

    shop.add_activity(1, 1)
    shop.import_interactions(pd.DataFrame({"user_id": [2], "product_id": [3]}), progress=False)
    real = snapshot.write_activities

    def full_disk(*args):
        real(*args)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot, "write_activities", full_disk)
    with pytest.raises(OSError, match="No space"):
        shop.compact()
    shop.add_activity(2, 2)
    monkeypatch.setattr(snapshot, "write_activities", real)
    with Store.open(path, readonly=True) as reader:
        assert reader.count_activities() == 3
    shop.compact()
    assert list((path / "segments").iterdir()) == []
    assert len(list((path / "log").glob("*.wal"))) == 1
    assert [p.name for p in (path / "snapshots").iterdir()] == [f"{shop._engine.state.seq:020d}"]


def test_concurrent_writers_share_fsyncs(shop, monkeypatch):
    import threading

    from discerner.store import log as log_module

    syncs = []

    def slow_fdatasync(fd):  # an fsync of about 2 ms, as on this machine's disk
        syncs.append(fd)
        time.sleep(0.002)

    monkeypatch.setattr(log_module.os, "fdatasync", slow_fdatasync)
    threads = [
        threading.Thread(target=lambda: [shop.add_activity(1, 1) for _ in range(20)])
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert shop.count_activities() == 320
    assert len(syncs) < 320 / 4  # one fsync serves many writes (typically 10-16)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_write_the_log_refused_is_not_visible_and_later_writes_are_refused(
    path, shop, monkeypatch, failing
):
    import errno

    from discerner.errors import StoreError
    from discerner.store import log as log_module

    shop.add_activity(1, 1)

    def broken(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "write":
        monkeypatch.setattr(log_module, "_write_all", broken)
    else:  # the bytes reach the file, but the fsync fails: still not acknowledged
        monkeypatch.setattr(log_module.os, "fdatasync", broken)
    with pytest.raises(StoreError) as refused:
        shop.create_user()
    assert isinstance(refused.value.__cause__, OSError)
    with pytest.raises(StoreError):
        shop.add_activity(2, 2)
    assert [u["id"] for u in shop.list_users()] == [1, 2]
    assert shop.count_activities() == 1 and shop.user_history(2)[0].tolist() == []
    with pytest.raises(StoreError):
        shop.close()
    monkeypatch.undo()
    with Store.open(path, compact_interval=0) as again:
        assert again.count_users() == 2 and again.count_activities() == 1
        assert again.create_user()["id"] == 3


def test_another_process_opening_read_only_sees_acknowledged_writes(path, shop):
    shop.add_activities([{"user_id": 1, "product_id": p} for p in (1, 2, 3)])
    code = (
        "import sys; from discerner.store import Store; "
        "s = Store.open(sys.argv[1], readonly=True); "
        "print(s.count_activities(), s.user_history(1)[0].tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[0] == "3 [1, 2, 3]"
