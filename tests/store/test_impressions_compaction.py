"""Compaction of the embedded store's impression files: fewer files, the same rows, crash-safe."""

import fcntl
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from discerner.store import impressions
from discerner.store.files import temp_target
from discerner.store.impressions import LOCK_NAME, ImpressionLog, level

NEVER = 10**9  # a fanout no test reaches: this log never compacts


def _rows(first: int, count: int, experiment: str = "exp", prefix: str = "r") -> list[dict]:
    """`count` impressions with request ids `<prefix><first>`, ... and distinct times."""
    start = datetime(2026, 11, 30, 12, tzinfo=UTC)
    return [
        {
            "request_id": f"{prefix}{i}",
            "experiment": experiment,
            "variant": "AB"[i % 2],
            "version": f"discerner/{i % 2 + 1}",
            "user_id": i,
            "product_ids": [i, i + 1],
            "time": start + timedelta(seconds=i),
        }
        for i in range(first, first + count)
    ]


def _append(log: ImpressionLog, appends: int, per_append: int = 2) -> None:
    """`appends` appends of `per_append` impressions each: ids r0, r1, ... in order."""
    for a in range(appends):
        log.append(_rows(a * per_append, per_append))


def _files(folder: Path) -> list[str]:
    """The folder's names (temp files and the lock included), sorted."""
    return sorted(os.listdir(folder))


def _parquet(folder: Path) -> list[str]:
    return [n for n in _files(folder) if n.endswith(".parquet")]


def test_appends_are_merged_in_levels_and_read_the_same(tmp_path):
    compacted = ImpressionLog(tmp_path / "a", fanout=4)
    plain = ImpressionLog(tmp_path / "b", fanout=NEVER)
    _append(compacted, 21)
    _append(plain, 21)
    # fanout 4: appends 4, 8, 12 each merge four level-0 files into one of level 1; append 16
    # makes a fourth level-1 file, so the four become one of level 2; append 20 adds a level-1
    # file and append 21 stays alone: levels 2, 1, 0 (21 = 16 + 4 + 1 appends).
    assert sorted(level(n) for n in _parquet(tmp_path / "a" / "exp")) == [0, 1, 2]
    assert len(_parquet(tmp_path / "b" / "exp")) == 21
    found = compacted.read("exp")
    assert found["request_id"].tolist() == [f"r{i}" for i in range(42)]  # 21 x 2, in order
    pd.testing.assert_frame_equal(found, plain.read("exp"))
    assert compacted.compact("exp") is True  # no level holds 4 files: nothing changes
    assert len(_parquet(tmp_path / "a" / "exp")) == 3


def test_a_writable_read_compacts_many_files_first(tmp_path):
    _append(ImpressionLog(tmp_path, fanout=NEVER), 5)
    assert ImpressionLog(tmp_path, readonly=True, fanout=4).read("exp")["user_id"].size == 10
    assert len(_parquet(tmp_path / "exp")) == 5  # a read-only log never writes
    found = ImpressionLog(tmp_path, fanout=4).read("exp")
    assert found["request_id"].tolist() == [f"r{i}" for i in range(10)]
    assert sorted(level(n) for n in _parquet(tmp_path / "exp")) == [0, 1]  # the oldest 4 merged


def test_a_crash_between_the_move_and_the_deletes(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    _append(ImpressionLog(tmp_path, fanout=NEVER), 4)
    unlink, deleted = Path.unlink, []

    def crash_after_one(path, missing_ok=False):  # the second delete of a source
        if path.name.endswith(".tmp"):
            return unlink(path, missing_ok=missing_ok)
        if deleted:
            raise OSError("killed")
        deleted.append(path)
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_after_one)
    with pytest.raises(OSError, match="killed"):
        ImpressionLog(tmp_path, fanout=4).compact("exp")
    monkeypatch.undo()
    # The merged file and 3 of its 4 sources: 8 impressions, each read once, in order.
    assert sorted(level(n) for n in _parquet(folder)) == [0, 0, 0, 1]
    reader = ImpressionLog(tmp_path, readonly=True, fanout=4)
    assert reader.read("exp")["request_id"].tolist() == [f"r{i}" for i in range(8)]
    assert ImpressionLog(tmp_path, fanout=4).compact("exp") is True
    assert [level(n) for n in _parquet(folder)] == [1]  # the leftovers are gone
    assert reader.read("exp")["request_id"].tolist() == [f"r{i}" for i in range(8)]


def test_a_crash_before_the_rename_leaves_a_temp_file_that_is_ignored(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    _append(ImpressionLog(tmp_path, fanout=NEVER), 4)
    # The crash: the merged file's link into place never happens, nor the temp file's removal.
    monkeypatch.setattr(os, "link", lambda *args: (_ for _ in ()).throw(OSError("killed")))
    monkeypatch.setattr(Path, "unlink", lambda *args, **kwargs: None)
    with pytest.raises(OSError, match="killed"):
        ImpressionLog(tmp_path, fanout=4).compact("exp")
    monkeypatch.undo()
    temps = [n for n in _files(folder) if n.endswith(".tmp")]
    assert len(temps) == 1 and level(temp_target(temps[0])) == 1
    reader = ImpressionLog(tmp_path, readonly=True, fanout=4)
    assert reader.read("exp")["request_id"].tolist() == [f"r{i}" for i in range(8)]
    # An append's temp file is deleted only when it is old (a live append may be writing it).
    # (named as `replace_atomically` names them, and as the first releases did)
    stale, fresh = folder / ".1-1-1.parquet.4242.tmp", folder / ".2-1-1.parquet.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    ImpressionLog(tmp_path, fanout=4).compact("exp")
    assert [n for n in _files(folder) if n.endswith(".tmp")] == [fresh.name]
    assert [level(n) for n in _parquet(folder)] == [1]
    assert reader.read("exp")["request_id"].tolist() == [f"r{i}" for i in range(8)]


def test_a_read_retries_when_a_compactor_deletes_a_listed_file(tmp_path, monkeypatch):
    _append(ImpressionLog(tmp_path, fanout=NEVER), 4)
    read_file, compactions = impressions._read_file, []

    def compact_first(path):
        if not compactions:  # between the reader's listing and its first open
            compactions.append("started")  # the compactor reads through here too
            compactions.append(ImpressionLog(tmp_path, fanout=4).compact("exp"))
        return read_file(path)

    monkeypatch.setattr(impressions, "_read_file", compact_first)
    found = ImpressionLog(tmp_path, readonly=True).read("exp")
    assert compactions == ["started", True]
    assert found["request_id"].tolist() == [f"r{i}" for i in range(8)]


def test_a_read_retries_when_a_merge_happened_during_its_listing(tmp_path, monkeypatch):
    _append(ImpressionLog(tmp_path, fanout=NEVER), 4)
    listing, compactions = impressions._listing, []

    def merge_while_listing(folder):
        if not compactions:  # the reader's first listing; the compactor lists through here too
            compactions.append("started")
            compactions.append(ImpressionLog(tmp_path, fanout=4).compact("exp"))
            # A listing is no snapshot: it may miss both a file created while it runs (the
            # merged one) and files deleted meanwhile (its sources), and see nothing.
            return []
        return listing(folder)

    monkeypatch.setattr(impressions, "_listing", merge_while_listing)
    found = ImpressionLog(tmp_path, readonly=True).read("exp")
    assert compactions == ["started", True]
    assert found["request_id"].tolist() == [f"r{i}" for i in range(8)]  # read again, all 8


def test_only_one_process_compacts_a_folder(tmp_path):
    folder = tmp_path / "exp"
    _append(ImpressionLog(tmp_path, fanout=NEVER), 4)
    with open(folder / LOCK_NAME, "a") as held:  # another process's compaction
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        assert ImpressionLog(tmp_path, fanout=4).compact("exp") is False
        assert time.monotonic() - started < 1  # it skipped rather than waited
        assert len(_parquet(folder)) == 4
    assert ImpressionLog(tmp_path, fanout=4).compact("exp") is True
    assert [level(n) for n in _parquet(folder)] == [1]


WRITES = 150  # appends per writer process


def _write(folder: Path, writer: int) -> None:
    """One writer process: WRITES appends of one impression each, compacting every 4."""
    log = ImpressionLog(folder, fanout=4)
    for i in range(WRITES):
        log.append(_rows(i, 1, prefix=f"w{writer}-"))


def _read_and_compact(folder: Path, done, errors) -> None:
    """Compact and read in a loop until the writers are done: never a duplicate, never a loss."""
    log, seen, reads = ImpressionLog(folder, fanout=4), set(), 0
    while not done.is_set() or reads == 0:
        log.compact("exp")
        ids = log.read("exp")["request_id"].tolist()
        if len(ids) != len(set(ids)):
            errors.put(f"read {reads}: {len(ids) - len(set(ids))} impressions counted twice")
        if not seen <= set(ids):
            errors.put(f"read {reads}: {len(seen - set(ids))} impressions lost")
        seen, reads = set(ids), reads + 1
    errors.put(f"reads {reads}")


def test_concurrent_writers_compactor_and_reader_see_each_impression_once(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    done, errors = spawn.Event(), spawn.Queue()
    writers = [spawn.Process(target=_write, args=(tmp_path, w)) for w in range(2)]
    reader = spawn.Process(target=_read_and_compact, args=(tmp_path, done, errors))
    for process in [*writers, reader]:
        process.start()
    for process in writers:
        process.join(timeout=120)
    done.set()
    reader.join(timeout=60)
    assert [p.exitcode for p in [*writers, reader]] == [0, 0, 0]
    messages = [errors.get(timeout=5)]
    while not errors.empty():
        messages.append(errors.get())
    assert messages[:-1] == [] and messages[-1].startswith("reads ")
    assert int(messages[-1].split()[1]) >= 2  # it read while the writers wrote
    ids = ImpressionLog(tmp_path, readonly=True).read("exp")["request_id"]
    expected = {f"w{w}-{i}" for w in range(2) for i in range(WRITES)}
    assert len(ids) == 2 * WRITES and set(ids) == expected  # 300, each exactly once
    assert len(_parquet(tmp_path / "exp")) < 2 * WRITES / 4  # merged (fanout 4)
