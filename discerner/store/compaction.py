"""Compaction: fold the log and imports into a new Parquet snapshot, swap the manifest, purge.

The writer captures a consistent picture of the tables, starts a new log file, writes a snapshot
folder (files fsynced, folder renamed into place), swaps `manifest.json` atomically, and only
then deletes the old log files and folded segments, so a crash at any moment loses nothing.
When any activity was deleted (or appends filled many chunks) it then also rebuilds the
in-memory columns without the tombstones, so deleted data leaves memory too. A background
thread compacts when the log grows, an import waits, or a delete is old enough to purge.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from discerner.store import frames
from discerner.store import snapshot as snap
from discerner.store.engine import Engine
from discerner.store.files import fsync_dir
from discerner.store.indexes import UserIndexPart
from discerner.store.log import LogWriter, log_name
from discerner.store.tables import iso_utc, now_micros

logger = logging.getLogger(__name__)

COMPACT_INTERVAL = 10.0
COMPACT_LOG_BYTES = 32 << 20
# A delete is folded into a snapshot (its data leaves the disk) once it is this old: within
# DELETE_COMPACT_SECONDS + COMPACT_INTERVAL of the delete, plus the compaction's own time.
DELETE_COMPACT_SECONDS = 60.0
# A compaction also rebuilds the in-memory activities (dropping every tombstone, joining
# chunks) when any row is deleted or there are more chunks than this.
MAX_CHUNKS = 256


class Compactor:
    """Compacts one writer's store, on demand and (when `interval` > 0) in the background.

    Args:
        engine: The open writer.
        interval: Seconds between background checks (0: no background thread).
        log_bytes: Log size that triggers a background compaction.
        delete_delay: Age of a delete that triggers a background compaction.
    """

    def __init__(self, engine: Engine, interval: float, log_bytes: int, delete_delay: float):
        self.engine = engine
        self.interval, self.log_bytes, self.delete_delay = interval, log_bytes, delete_delay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread, when there is an interval."""
        if self.interval > 0:
            self._thread = threading.Thread(target=self._background, daemon=True, name="compact")
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def compact(self) -> dict:
        """Fold the log and import segments into a new snapshot; returns its data version."""
        engine = self.engine
        with engine.compact_lock:
            with engine.lock:
                engine.check_writable()
                state = engine.state
                if state.seq == state.snapshot_seq and state.manifest is not None:
                    return state.manifest["version"]
                # Any tombstone is reclaimed: a deleted row must leave memory, not only disk.
                reclaim = state.acts.dead() > 0 or len(state.acts.chunks) > MAX_CHUNKS
                chunks = state.acts.seal() if reclaim else 0
                picture, retired = state.capture(), self._rotate_log()
                folded, state.segments = state.segments, []
            try:
                version, index = self._write_snapshot(picture, retired, folded)
            except BaseException:
                self._failed(picture["seq"], retired, folded)
                raise
            if reclaim:  # drop the tombstones from memory too
                kept = [alive for _, alive in picture["views"]]
                del picture  # its views would keep the old columns alive meanwhile
                with engine.lock:
                    state.acts.reclaim(chunks, kept, index)
            return version

    def _failed(self, seq: int, retired: list[Path], folded: list[Path]) -> None:
        """Leave things so that the next compaction succeeds without waiting for a write.

        Nothing is lost (the old manifest and logs still hold everything): the files are
        remembered so that the next successful compaction removes them, and the snapshot
        folder this one wrote is removed, unless the manifest on disk names it (the swap
        happened and a later step failed: then it is the published snapshot).
        """
        engine, name = self.engine, f"{seq:020d}"
        with engine.lock:
            engine.old_logs = [*retired, *engine.old_logs]
            engine.state.segments = [*folded, *engine.state.segments]
        folder = engine.path / "snapshots"
        shutil.rmtree(folder / f".{name}.tmp", ignore_errors=True)
        try:
            on_disk = snap.read_manifest(engine.path)
        except (OSError, ValueError):
            logger.exception("cannot read %s after a failed compaction", snap.MANIFEST)
            return  # unknown: keep the folder; a later compaction or open sorts it out
        if on_disk is not None and on_disk["snapshot"] == f"snapshots/{name}":
            with engine.lock:
                engine.state.manifest, engine.state.snapshot_seq = on_disk, seq
        else:
            shutil.rmtree(folder / name, ignore_errors=True)

    def _rotate_log(self) -> list[Path]:
        """Start a new log file; returns the retired ones. Call holding the lock."""
        engine = self.engine
        engine.log.flush()
        retired = [*engine.old_logs, engine.log.path]
        fresh = engine.path / "log" / log_name(engine.state.seq + 1)
        if fresh == engine.log.path:  # nothing was written since this log began
            retired, engine.old_logs = engine.old_logs, []
            return retired
        new_log = LogWriter(fresh, engine.state.seq)
        fsync_dir(fresh.parent)
        engine.log.close()
        engine.log, engine.old_logs = new_log, []
        return retired

    def _write_snapshot(
        self, picture: dict, retired: list[Path], folded: list[Path]
    ) -> tuple[dict, UserIndexPart]:
        """Write the snapshot of `picture`, swap the manifest, remove what it replaced.

        Returns:
            (the data version, the snapshot's per-user index).
        """
        engine, started = self.engine, time.perf_counter()
        version = frames.version_of(picture)
        name = f"{picture['seq']:020d}"
        index = snap.snapshot_index(picture["views"])
        tables = frames.entity_tables(picture)
        _, sums = snap.write_snapshot(
            engine.path / "snapshots", name, tables, picture["views"], index
        )
        manifest = {
            "format": snap.FORMAT,
            "seq": picture["seq"],
            "snapshot": f"snapshots/{name}",
            "next_ids": picture["next_ids"],
            "version": version,
            "created_at": iso_utc(now_micros()),
            "files": sums,
        }
        previous = engine.state.manifest
        snap.write_manifest(engine.path, manifest)
        with engine.lock:
            engine.state.manifest, engine.state.snapshot_seq = manifest, picture["seq"]
        for path in [*retired, *folded]:
            path.unlink(missing_ok=True)
        if previous is not None and previous["snapshot"] != manifest["snapshot"]:
            shutil.rmtree(engine.path / previous["snapshot"], ignore_errors=True)
        for folder in ("log", "segments", "snapshots"):
            fsync_dir(engine.path / folder)
        with engine.lock:
            deletes = engine.state.deletes
            while deletes and deletes[0][0] <= picture["seq"]:
                deletes.popleft()  # its data has left the disk
        snap.release_memory()
        logger.info(
            "compacted %s at version %d (%d activities) in %.1f s",
            engine.path,
            picture["seq"],
            version["activities"],
            time.perf_counter() - started,
        )
        return version, index

    def _background(self) -> None:
        while not self._stop.wait(self.interval):
            if self.engine.log.failed:  # nothing can be compacted safely until a restart
                logger.error(
                    "background compaction of %s stopped: the log failed", self.engine.path
                )
                return
            if self._needs_compaction():
                try:
                    self.compact()
                except Exception:  # the next round tries again; writes go on meanwhile
                    logger.exception("background compaction of %s failed", self.engine.path)

    def _needs_compaction(self) -> bool:
        engine = self.engine
        with engine.lock:
            state = engine.state
            old = sum(p.stat().st_size for p in engine.old_logs if p.exists())
            # A delete's data stays in the log and the old snapshot until a compaction.
            purge = bool(state.deletes) and (
                time.monotonic() - state.deletes[0][1] >= self.delete_delay
            )
            return bool(state.segments) or purge or old + engine.log.size >= self.log_bytes
