"""Data safety: manifest and folders that disagree, read-only opens racing a compaction,
checksummed snapshots, meaningless log records, a failed manifest write, deleted data purged."""

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from discerner.store import Store, StoreCorruptError
from discerner.store import snapshot as snap
from discerner.store.log import frame


def _crash(store):
    """Stop a writer as a crash would: no compaction, no clean close."""
    store._engine.log.close()
    store._engine.release_lock()
    store._engine.closed = True


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def _snapshot_folder(path):
    return path / _manifest(path)["snapshot"]


def _seq_name(seq):
    return f"{seq:020d}"


# ----------------------------------------------------------------- 1. manifest vs folders


def test_a_missing_manifest_refuses_to_open_and_deletes_nothing(path, shop):
    shop.add_activity(1, 1)
    shop.close()  # clean shutdown: a snapshot, and an empty log after it
    folder = _snapshot_folder(path)
    (path / "manifest.json").unlink()
    with pytest.raises(StoreCorruptError, match=r"manifest\.json") as caught:
        Store.open(path, compact_interval=0)
    assert "missing" in str(caught.value) and "restore" in str(caught.value)
    with pytest.raises(StoreCorruptError, match=r"manifest\.json"):
        Store.open(path, readonly=True)
    assert (folder / "activities.parquet").exists()  # the only copy of the data is kept


def test_an_old_manifest_beside_a_newer_snapshot_refuses_to_open(path, tmp_path, shop):
    shop.add_activity(1, 1)
    shop.compact()
    old = _snapshot_folder(path)
    backup = tmp_path / "backup"
    shutil.copytree(path, backup, ignore=shutil.ignore_patterns("log", "LOCK"))
    shop.add_activity(2, 2)
    shop.close()
    newer = _snapshot_folder(path)
    shutil.copy(backup / "manifest.json", path / "manifest.json")  # an old backup restored
    shutil.copytree(backup / "snapshots" / old.name, old)
    with pytest.raises(StoreCorruptError) as caught:
        Store.open(path, compact_interval=0)
    assert newer.name in str(caught.value)
    assert (newer / "activities.parquet").exists()
    assert sorted(p.name for p in (path / "snapshots").iterdir()) == [old.name, newer.name]


def test_a_lost_first_log_refuses_to_open(path, shop, monkeypatch):
    shop.compact()
    first = path / "log" / _seq_name(shop._engine.state.seq + 1)
    shop.add_activity(1, 1)
    shop.add_activity(2, 2)
    monkeypatch.setattr(snap, "write_activities", _fail_with_enospc)
    with pytest.raises(OSError):
        shop.compact()  # rotated the log to a new, still empty, file
    _crash(shop)
    first.with_suffix(".wal").unlink()  # the records of both activities are lost
    with pytest.raises(StoreCorruptError, match="missing") as caught:
        Store.open(path, compact_interval=0)
    assert _seq_name(shop._engine.state.seq + 1) in caught.value.path


def test_leftovers_are_removed_or_moved_aside_never_deleted_unproven(path, shop, caplog):
    shop.add_activity(1, 1)
    shop.compact()
    current = _snapshot_folder(path)
    shutil.copytree(current, path / "snapshots" / _seq_name(1))  # older than the manifest
    (path / "snapshots" / f".{_seq_name(9)}.tmp").mkdir()  # a compaction's partial folder
    stranger = path / "snapshots" / "copy of snapshot"
    stranger.mkdir()
    (stranger / "note.txt").write_text("mine")
    (path / "segments" / "import.parquet").write_text("a file the store never wrote")
    _crash(shop)
    with caplog.at_level(logging.WARNING), Store.open(path, compact_interval=0) as again:
        assert again.count_activities() == 1
        assert [p.name for p in (path / "snapshots").iterdir()] == [current.name]
        assert list((path / "segments").iterdir()) == []
    moved = sorted(p.relative_to(path / "orphans") for p in (path / "orphans").rglob("*.*"))
    assert [p.parts[1:] for p in moved] == [
        ("segments", "import.parquet"),
        ("snapshots", "copy of snapshot", "note.txt"),
    ]
    assert "copy of snapshot" in caplog.text and "orphans" in caplog.text


CRASH_BEFORE_MANIFEST = textwrap.dedent(
    """
    import os, sys
    from discerner.store import Store, snapshot

    store = Store.open(sys.argv[1], compact_interval=0)
    for _ in range(2):
        store.create_user()
    store.create_product()
    store.add_activity(1, 1)
    if sys.argv[2] == "second":
        store.compact()
        store.add_activity(2, 1)
    snapshot.write_manifest = lambda *args: os._exit(9)  # the process dies right here
    store.compact()
    """
)


@pytest.mark.parametrize("which", ["first", "second"])
def test_a_crash_between_snapshot_and_manifest_loses_nothing(path, which):
    code = [sys.executable, "-c", CRASH_BEFORE_MANIFEST, str(path), which]
    assert subprocess.run(code, timeout=60).returncode == 9
    published = sorted(p.name for p in (path / "snapshots").iterdir())
    assert published[-1] == _seq_name(5 if which == "second" else 4)
    with Store.open(path, compact_interval=0) as again:
        assert [(a["user_id"], a["id"]) for a in again.list_activities()] == (
            [(1, 1), (2, 2)] if which == "second" else [(1, 1)]
        )
        assert not (path / "orphans").exists()
    assert [p.name for p in (path / "snapshots").iterdir()] == [_snapshot_folder(path).name]


# ----------------------------------------------------------------- 2. read-only vs compaction


def test_a_readonly_open_sees_writes_a_compaction_folded_while_it_loaded(path, shop, monkeypatch):
    shop.add_activity(1, 1)
    shop.compact()
    shop.add_activity(2, 2)  # acknowledged before the read-only open starts
    shop.add_activity(2, 3)
    real = snap.read_activities
    calls = []

    def load_then_compact(source):
        loaded = real(source)
        if not calls:  # the reader has the old snapshot: now the writer compacts
            calls.append(source)
            shop.compact()  # folds both writes, deletes the old log, starts an empty one
        return loaded

    monkeypatch.setattr(snap, "read_activities", load_then_compact)
    with Store.open(path, readonly=True) as reader:
        assert calls and reader.count_activities() == 3
        assert [a["product_id"] for a in reader.list_activities()] == [1, 2, 3]


# ----------------------------------------------------------------- 3. checksummed files


def _flip_bit(file, offset, bit=0):
    data = bytearray(file.read_bytes())
    data[offset] ^= 1 << bit
    file.write_bytes(bytes(data))


@pytest.fixture
def compacted(path, shop):
    """A closed store whose snapshot holds users, products and activities (no log records)."""
    shop.create_user(external_id="ext-1", attributes={"tier": "gold"})
    for user, product, score in [(1, 1, 1.0), (2, 2, 2.5), (1, 3, 4.0), (3, 2, 5.0)]:
        shop.add_activity(user, product, score, timestamp=1_700_000_000 + user)
    shop.close()
    return path


SNAPSHOT_FILES = [
    "users.parquet",
    "products.parquet",
    "activities.parquet",
    "index_users.npy",
    "index_bounds.npy",
    "index_rows.npy",
]


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
@pytest.mark.parametrize("readonly", [False, True])
def test_every_bit_flip_in_a_snapshot_file_is_caught_naming_the_file(compacted, name, readonly):
    file = _snapshot_folder(compacted) / name
    pristine = file.read_bytes()
    size = len(pristine)
    offsets = sorted({0, 4, size // 3, size // 2, size - 9, size - 5, size - 1})
    offsets += list(range(7, size, max(1, size // 25)))
    for offset in offsets:
        _flip_bit(file, offset, bit=offset % 8)
        with pytest.raises(StoreCorruptError) as caught:
            Store.open(compacted, readonly=readonly, compact_interval=0)
        assert caught.value.path == str(file), offset
        assert str(file) in str(caught.value)
        file.write_bytes(pristine)
    with Store.open(compacted, readonly=readonly, compact_interval=0) as fine:
        assert fine.count_activities() == 4


def test_snapshot_files_carry_page_checksums_caught_without_the_manifest_hashes(compacted):
    manifest = _manifest(compacted)
    manifest.pop("files", None)  # as a manifest of an older version: only page checksums are left
    (compacted / "manifest.json").write_text(json.dumps(manifest))
    file = compacted / manifest["snapshot"] / "activities.parquet"
    pristine = file.read_bytes()
    ids = pq.ParquetFile(file).metadata.row_group(0).column(0)  # its pages: header and values
    caught = 0
    for offset in range(ids.data_page_offset, ids.data_page_offset + ids.total_compressed_size):
        _flip_bit(file, offset, bit=offset % 8)
        try:
            with Store.open(compacted, readonly=True) as reader:
                assert [a["id"] for a in reader.list_activities()] == [1, 2, 3, 4], offset
        except StoreCorruptError as error:
            assert error.path == str(file)
            caught += 1
        file.write_bytes(pristine)
    assert caught > ids.total_compressed_size // 2


def test_a_manifest_without_file_hashes_still_opens(compacted):
    manifest = _manifest(compacted)
    del manifest["files"]
    (compacted / "manifest.json").write_text(json.dumps(manifest))
    with Store.open(compacted, compact_interval=0) as again:
        assert again.count_activities() == 4
        again.add_activity(1, 1)
    assert set(_manifest(compacted)["files"]) == set(SNAPSHOT_FILES)


def test_a_bit_flip_in_an_import_segment_is_caught_naming_the_segment(path, store):
    frame_ = pd.DataFrame({"user_id": [1, 2, 3], "product_id": [1, 1, 2]})
    store.import_interactions(frame_, progress=False)
    _crash(store)  # the segment is only named by the log
    (segment,) = (path / "segments").iterdir()
    size = segment.stat().st_size
    for offset in (size // 2, size - 1, 4):
        pristine = segment.read_bytes()
        _flip_bit(segment, offset, bit=3)
        with pytest.raises(StoreCorruptError) as caught:
            Store.open(path, readonly=True)
        assert caught.value.path == str(segment)
        segment.write_bytes(pristine)
    with Store.open(path, compact_interval=0) as again:
        assert again.count_activities() == 3


# ----------------------------------------------------------------- 4. meaningless log records


def _write_log(path, payloads, first_seq=1):
    """A store folder whose only log holds `payloads`; returns (log, offset of each record)."""
    (path / "log").mkdir(parents=True)
    log = path / "log" / f"{_seq_name(first_seq)}.wal"
    offsets, data = [], b""
    for payload in payloads:
        offsets.append(len(data))
        data += frame(json.dumps(payload).encode())
    log.write_bytes(data)
    return log, offsets


USER = {"s": 1, "op": "user", "id": 1, "t": 0, "x": "a", "a": None}
PRODUCT = {"s": 2, "op": "product", "id": 1, "t": 0, "x": None, "a": {"category": "c"}}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"s": 3, "op": "user", "t": 0}, "id"),
        ({"s": 3, "op": "user", "id": 1, "t": 0, "x": None, "a": None}, "duplicate"),
        ({"s": 3, "op": "user", "id": 2, "t": 0, "x": "a", "a": None}, "external"),
        ({"s": 3, "op": "user", "id": "2", "t": 0, "x": None, "a": None}, "id"),
        ({"s": 3, "op": "acts", "r": [[1, 1, 1, 1.0]]}, "activity"),
        ({"s": 3, "op": "acts", "r": [[1, 7, 1, 1.0, 0]]}, "user 7"),
        ({"s": 3, "op": "acts", "r": [[1, 1, 1, 1.0, 0], [1, 1, 1, 1.0, 0]]}, "id"),
        ({"s": 3, "op": "del_user", "id": 5}, "user 5"),
        ({"s": 3, "op": "del_product"}, "id"),
        ({"s": 3, "op": "import", "segment": "x.parquet"}, "no field 'rows'"),
        (
            {
                "s": 3,
                "op": "import",
                "segment": "x.parquet",
                "rows": 1,
                "users": [],
                "products": [],
                "t": 0,
            },
            "segment",
        ),
        ({"s": 3, "op": "rename"}, "unknown"),
        ({"op": "user", "id": 2, "t": 0}, "no field 's'"),
        ([3, "user"], "object"),
    ],
)
def test_a_log_record_with_a_valid_crc_but_bad_meaning_names_file_and_offset(path, bad, message):
    log, offsets = _write_log(path, [USER, PRODUCT, bad, {**USER, "s": 4, "id": 9, "x": "z"}])
    for readonly in (False, True):
        with pytest.raises(StoreCorruptError, match=message) as caught:
            Store.open(path, readonly=readonly, compact_interval=0)
        assert caught.value.path == str(log) and caught.value.offset == offsets[2]
        assert f"{log} at byte {offsets[2]}" in str(caught.value)


def test_well_formed_log_records_replay(path):
    records = [
        USER,
        PRODUCT,
        {"s": 3, "op": "acts", "r": [[1, 1, 1, 2.0, 5], [2, 1, 1, 3.0, 6]]},
        {"s": 4, "op": "del_product", "id": 1},
        {"s": 5, "op": "del_user", "id": 1},
    ]
    _write_log(path, records)
    with Store.open(path, readonly=True) as reader:
        assert reader.count_users() == reader.count_activities() == 0
        assert reader._engine.state.seq == 5 and reader._engine.state.acts.next_id == 3


# ----------------------------------------------------------------- 5. failed manifest write


def _fail_with_enospc(*args):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("write_between", [False, True])
def test_compaction_recovers_by_itself_after_a_failed_manifest_write(
    path, shop, monkeypatch, write_between
):
    shop.add_activity(1, 1)
    real = snap.write_manifest
    monkeypatch.setattr(snap, "write_manifest", _fail_with_enospc)
    with pytest.raises(OSError, match="No space"):
        shop.compact()
    monkeypatch.setattr(snap, "write_manifest", real)
    if write_between:
        shop.add_activity(2, 2)
    version = shop.compact()  # no new write needed
    assert version["activities"] == 1 + write_between
    assert _manifest(path)["seq"] == shop._engine.state.seq
    assert [p.name for p in (path / "snapshots").iterdir()] == [_seq_name(shop._engine.state.seq)]
    assert [p.name for p in (path / "log").iterdir()] == [
        f"{_seq_name(shop._engine.state.seq + 1)}.wal"
    ]
    shop.close()
    with Store.open(path, readonly=True) as reader:
        assert reader.count_activities() == 1 + write_between


# ----------------------------------------------------------------- 18. deleted data purged


def _store_bytes(path):
    """Every file's bytes; a file or folder a compaction moves or deletes meanwhile is skipped
    (`os.walk` ignores a folder that vanished; `Path.rglob` raises)."""
    found = []
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                found.append(Path(folder, name).read_bytes())
            except FileNotFoundError:
                continue
    return b"".join(found)


def _logs_empty(path):
    try:
        return all(log.stat().st_size == 0 for log in (path / "log").glob("*.wal"))
    except FileNotFoundError:  # a log replaced meanwhile: look again
        return False


def _memory_holds_user(store, user_id):
    with store._engine.lock:
        chunks = store._engine.state.acts.chunks
        in_columns = any((c.cols["user"][: c.n] == user_id).any() for c in chunks)
        return in_columns or user_id in store._engine.state.acts.recent


def test_a_deleted_user_leaves_disk_and_memory_within_the_purge_delay(path):
    secret = "customer-7c1f9e@example.org"
    with Store.open(path, compact_interval=0.05, delete_compact_seconds=0.3) as store:
        kept = store.create_user(external_id="stays")["id"]
        gone = store.create_user(external_id=secret, attributes={"email": secret})["id"]
        store.create_product()
        store.add_activity(kept, 1, 1.25)
        store.add_activity(gone, 1, 4.75)
        store.compact()
        store.add_activity(gone, 1, 3.5)  # in the log as well as the snapshot
        assert secret.encode() in _store_bytes(path)
        store.delete_user(gone)
        assert secret not in store._engine.state.users.external
        assert {"email": secret} not in store._engine.state.users.attrs
        deadline = time.monotonic() + 10
        # Waits for the purge's last step too (the log emptied after the new snapshot).
        while time.monotonic() < deadline and (
            secret.encode() in _store_bytes(path)
            or _memory_holds_user(store, gone)
            or not _logs_empty(path)
        ):
            time.sleep(0.05)
        assert secret.encode() not in _store_bytes(path)
        assert not _memory_holds_user(store, gone)
        with Store.open(path, readonly=True) as reader:
            assert reader.interactions()["score"].tolist() == [1.25]
        activities = pq.read_table(_snapshot_folder(path) / "activities.parquet")
        assert activities.column("user_id").to_pylist() == [kept]
        for log in (path / "log").glob("*.wal"):
            assert log.stat().st_size == 0  # the delete record went with the compaction
        assert store.count_activities() == 1


def test_a_compaction_after_any_delete_drops_the_rows_from_memory(shop):
    shop.add_activity(2, 3)
    shop.add_activities([{"user_id": 1, "product_id": 1 + i % 2} for i in range(200)])
    shop.delete_user(2)  # one row of 201: below the 1% share that once triggered a reclaim
    assert _memory_holds_user(shop, 2)
    shop.compact()
    assert not _memory_holds_user(shop, 2)
    assert shop.count_activities() == 200 and shop._engine.state.acts.total == 200
    assert shop.user_history(1)[0].tolist() == [1, 2] * 100


def test_a_manifest_naming_a_folder_outside_the_store_is_refused(compacted):
    manifest = _manifest(compacted) | {"snapshot": "../../elsewhere"}
    (compacted / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreCorruptError, match="elsewhere") as caught:
        Store.open(compacted, compact_interval=0)
    assert caught.value.path == str(compacted / "manifest.json")


def test_a_new_store_folder_is_made_durable_in_its_parent(tmp_path, fsynced_folders):
    Store.open(tmp_path / "home" / "store", compact_interval=0).close()
    assert str(tmp_path / "home") in fsynced_folders
