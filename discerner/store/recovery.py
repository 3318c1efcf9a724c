"""Recovery: load the snapshot the manifest names, replay the log after it, tidy what is left over.

Every file is checked as it is read: snapshot files against the manifest's sizes and CRCs,
log records against their CRC and then their meaning (`records`), imports' segments against
the CRC in their record. A torn tail (a crash mid-write, never acknowledged) is dropped; any
other damage, or a gap in the records, raises `StoreCorruptError` naming the file and offset.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from discerner.errors import StoreCorruptError
from discerner.store import records
from discerner.store import snapshot as snap
from discerner.store.files import fsync_dir, move_aside
from discerner.store.indexes import UserIndexPart
from discerner.store.log import first_seq, read_log
from discerner.store.state import State

logger = logging.getLogger(__name__)

ORPHANS = "orphans"


def load(state: State, recover: bool, upto: int | None = None) -> list[Path]:
    """Load the snapshot into a fresh `state`, then replay the log records after it.

    Args:
        state: A fresh state of the store folder to read.
        recover: Truncate a torn tail (the writer after a crash) instead of skipping it.
        upto: Replay no record after this sequence number.

    Returns:
        The log files, oldest first.

    Raises:
        StoreCorruptError: A file is damaged or missing, or records are missing between
            the snapshot and the log or between log files.
    """
    with reading(state.folder / snap.MANIFEST):
        state.manifest = snap.read_manifest(state.folder)
    if state.manifest is not None:
        _load_snapshot(state, state.manifest)
    logs = sorted((state.folder / "log").glob("*.wal"))
    for i, log in enumerate(logs):
        _check_follows(state, log)
        with reading(log):
            found, end, torn = read_log(log, last=i == len(logs) - 1)
        if torn:
            _torn_tail(log, end, recover)
        for offset, payload in found:
            _replay(state, payload, log, offset, upto)
    return logs


@contextmanager
def reading(path: Path):
    """Turn a failure to read a store file into the store's errors."""
    try:
        yield
    except FileNotFoundError:  # a read-only open reads again if a compaction removed it
        raise StoreCorruptError("a file the store needs is missing", path=str(path)) from None
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:  # ArrowIOError is OSError
        raise StoreCorruptError(f"unreadable ({exc})", path=str(path)) from None


def _load_snapshot(state: State, manifest: dict) -> None:
    """Load the snapshot's files, each checked against the manifest's checksum.

    The checksums run in a thread beside the parsing (zlib releases the GIL), so they add
    little to the time of an open. A failed check is reported before any parsing error, as it
    names the damaged file for sure.
    """
    folder = state.folder / manifest["snapshot"]
    sums = manifest.get("files", {})  # absent in manifests of older versions
    with ThreadPoolExecutor(1, thread_name_prefix="verify") as pool:
        checks = [
            (folder / name, pool.submit(snap.verify, folder / name, sums[name]))
            for name in snap.SNAPSHOT_FILES
            if name in sums
        ]
        try:
            _load_snapshot_files(state, folder)
        finally:
            for path, check in checks:
                with reading(path):
                    check.result()
    next_ids = manifest["next_ids"]
    state.users.next_id = max(state.users.next_id, next_ids["users"])
    state.products.next_id = max(state.products.next_id, next_ids["products"])
    state.acts.next_id = max(state.acts.next_id, next_ids["activities"])
    state.seq = state.snapshot_seq = manifest["seq"]


def _load_snapshot_files(state: State, folder: Path) -> None:
    # One file per `reading`, so that a damaged file is named in the error.
    with reading(folder / "users.parquet"):
        snap.load_entities(folder / "users.parquet", state.users)
    with reading(folder / "products.parquet"):
        snap.load_entities(folder / "products.parquet", state.products)
    with reading(folder / "activities.parquet"):
        activities = snap.read_activities(folder / "activities.parquet")
    with reading(folder / UserIndexPart.FILES[-1]):
        index = UserIndexPart.load(folder)
    state.acts.add_sealed(activities, index)
    snap.release_memory()


def _check_follows(state: State, log: Path) -> None:
    """Refuse a log file that starts after the record loaded last: records are missing.

    A log file is named after its first record, so this also catches a lost log that left an
    empty (or no) file behind, which replay alone cannot notice.
    """
    start = first_seq(log)
    if start <= state.seq + 1:
        return
    missing = f"log records {state.seq + 1}..{start - 1} are missing"
    folders = state.folder / "snapshots"
    names = sorted(p.name for p in folders.iterdir()) if folders.is_dir() else []
    newer = [n for n in names if snap.SNAPSHOT_NAME.fullmatch(n) and int(n) > state.seq]
    if newer and state.manifest is None:
        message = (
            f"{missing}, and manifest.json is missing although snapshots/{newer[-1]} holds"
            " data: restore manifest.json from a backup; do not delete the snapshot folders"
        )
    elif newer:
        message = (
            f"{missing}: manifest.json (at record {state.seq}) is older than"
            f" snapshots/{newer[-1]}, as if restored from an old backup; put back the"
            " manifest.json written with that snapshot"
        )
    else:
        message = f"{missing}: a log file was lost; restore it from a backup"
    raise StoreCorruptError(message + " (nothing was moved or deleted)", path=str(log))


def _torn_tail(log: Path, end: int, recover: bool) -> None:
    if not recover:
        logger.debug("ignoring an incomplete record at the end of %s (being written)", log)
        return
    logger.warning(
        "dropping a torn record at byte %d of %s (a crash interrupted its write; it was"
        " never acknowledged)",
        end,
        log,
    )
    os.truncate(log, end)
    fd = os.open(log, os.O_WRONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replay(state: State, payload: bytes, log: Path, offset: int, upto: int | None) -> None:
    """Check and apply one log record; a record it cannot apply names file and offset."""
    try:
        op = json.loads(payload)
        seq = records.sequence(op)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise StoreCorruptError(f"bad log record ({exc})", path=str(log), offset=offset) from None
    if seq <= state.seq or (upto is not None and seq > upto):
        return
    if seq != state.seq + 1:
        raise StoreCorruptError(
            f"log record {seq} follows record {state.seq}: records"
            f" {state.seq + 1}..{seq - 1} are missing",
            path=str(log),
            offset=offset,
        )
    try:
        records.check(op, state.users, state.products, state.acts)
    except ValueError as exc:
        message = f"bad log record {seq} ({exc})"
        raise StoreCorruptError(message, path=str(log), offset=offset) from None
    segment = _read_segment(state, op) if op["op"] == "import" else None
    state.apply(op, segment)
    state.seq = seq


def _read_segment(state: State, op: dict) -> dict:
    """Read an import's segment, checked against its log record."""
    path = state.folder / "segments" / op["segment"]
    with reading(path):
        if "sum" in op:  # absent in records of older versions
            snap.verify(path, op["sum"])
        segment = snap.read_activities(path)
    ids = segment["id"]
    if len(ids) != op["rows"] or (len(ids) and ids[0] < state.acts.next_id):
        raise StoreCorruptError(
            f"the segment holds {len(ids)} activities, its log record says {op['rows']}"
            f" from id {state.acts.next_id}",
            path=str(path),
        )
    return segment


def tidy_leftovers(state: State) -> None:
    """Deal with what the manifest and the log do not use, once they are loaded.

    Removed: what the store provably holds elsewhere (snapshots up to the last record,
    segments folded into the snapshot, half-written files). Refused: a snapshot newer than
    the last record (the store lacks its data). Moved to `orphans/`: the rest.
    """
    folder = state.folder
    segments = {p.name for p in state.segments}
    found = snap.leftovers(folder, state.manifest, state.seq, segments)
    if found["newer"]:
        newest = found["newer"][-1]
        raise StoreCorruptError(
            f"this snapshot is newer than the last record the manifest and the log hold"
            f" ({state.seq}): the log after it was lost, or manifest.json is an old copy;"
            " restore both from a backup (nothing was moved or deleted)",
            path=str(newest),
        )
    for path in found["redundant"]:
        logger.info("removing %s: the store holds its data in its snapshot and log", path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if found["unknown"]:
        moved = move_aside(found["unknown"], folder, folder / ORPHANS)
        logger.warning(
            "moved %s to %s: the store does not use them (nothing deletes that folder;"
            " check it and delete it)",
            ", ".join(str(p.relative_to(folder)) for p in found["unknown"]),
            moved,
        )
    for name in ("snapshots", "segments"):
        fsync_dir(folder / name)
