"""Impressions of A/B experiments in the embedded store: Parquet files, appended and merged.

Each `append` writes one Parquet file `impressions/<experiment>/<time ns>-<pid>-<n>.parquet`
(temp file, fsync, move, fsync of the folder): a file is there whole or not at all, and
pandas, DuckDB and Spark read `impressions/*/*.parquet` without Discerner. Columns: request_id,
experiment, variant, version (string), user_id (int64), product_ids (list of int64, best
first: rank = position + 1), time (timestamp[us, UTC]). Several processes may append to one
folder at once, and readers run while they do.

Compaction. The server appends about once a second while an experiment runs (86,400 files a
day), so small files are merged in levels, as in an LSM tree: an appended file is of level 0;
when a folder holds at least `fanout` (64) files of one level, the oldest 64 become one file of
the next level, `<key of its first source>.L<level>.parquet`, rows in the sources' order (a file's
key is its name up to the first dot, so sorting by key keeps the order of the appends). Each
process looks at a folder after every `fanout` of its own appends to it (a listing per append
would cost more than it saves); `compact` does it on demand, and a writable log's `read` does
it first when it finds `fanout` files of level 0. One process compacts a folder at a time: it
holds a non-blocking `flock` on `.compact.lock` there, and the others skip, never wait.

Crash safety: a merged file is written to a dot-prefixed temp name, fsynced, moved into place
(never over an existing file) and the folder fsynced, and only then are its sources deleted
(and the folder fsynced). It records the names of its sources in its Parquet key-value
metadata (`discerner.sources`, a JSON list), so a `kill -9` between the move and the last
delete leaves a merged file beside some of its sources: readers skip every file that a
present merged file covers, and the next compaction deletes those leftovers and any merge's
temp file. An append's temp file (a crashed append) is deleted once it is an hour old, as no
live append takes that long. No impression is lost or counted twice at any point.

Readers take no lock. After each move the compactor appends a byte to `.compact.lock`, before
deleting the sources; a reader notes that file's size before listing and after reading, and
reads again (a bounded number of times) when it changed or a listed file vanished. So a read
never fails because a compactor deleted a file, and never sees a merged file and its sources
both. A reader of the raw glob (pandas, DuckDB, Spark) can: between a merge's move and its
deletes (milliseconds), or until the next compaction after a crash there. Such a reader should
drop duplicate `request_id`s (each impression has its own), or read through `Store.impressions`.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from discerner.errors import StoreError
from discerner.store.files import fsync_dir, replace_atomically, temp_target

logger = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("experiment", pa.string()),
        ("variant", pa.string()),
        ("version", pa.string()),
        ("user_id", pa.int64()),
        ("product_ids", pa.list_(pa.int64())),
        ("time", pa.timestamp("us", tz="UTC")),
    ]
)
COLUMNS = SCHEMA.names

FANOUT = 64  # files of one level that become one file of the next
LOCK_NAME = ".compact.lock"  # the compactor's flock; its size counts the merges (see above)
SOURCES_KEY = b"discerner.sources"  # a merged file's metadata: its sources' names (JSON list)
READ_ATTEMPTS = 40  # reads tried while merges change the folder (about 3 s) before giving up
ROW_GROUP_ROWS = 65_536  # a merge writes its sources' rows in row groups of about this size
STALE_APPEND_SECONDS = 3600  # age after which an append's temp file is a crash's leftover
_LEVEL = re.compile(r"\.L(\d+)\.parquet$")


def to_table(rows: list[dict]) -> pa.Table:
    """Impression dicts (`COLUMNS`; `time` a datetime) as an Arrow table."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An impressions table as pandas: product_ids a list per row, time UTC."""
    frame = table.select(COLUMNS).to_pandas()
    frame["product_ids"] = frame["product_ids"].map(list)
    return frame


def level(name: str) -> int:
    """A file's level: 0 for an appended file, L for `<key>.L<L>.parquet`."""
    found = _LEVEL.search(name)
    return int(found.group(1)) if found else 0


def _key(name: str) -> str:
    """The name up to its first dot: `<time ns>-<pid>-<n>` of the (first) appended file."""
    return name.split(".", 1)[0]


def _listing(folder: Path) -> list[str]:
    """The Parquet files of a folder (not temp files), by key: the order of the appends."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted((n for n in names if n.endswith(".parquet") and not n.startswith(".")), key=_key)


def _covered(folder: Path, names: list[str]) -> set[str]:
    """The names among `names` whose rows a present merged file already holds."""
    sources: set[str] = set()
    for name in names:
        if level(name):
            metadata = pq.read_metadata(folder / name).metadata or {}
            sources.update(json.loads(metadata.get(SOURCES_KEY, b"[]")))
    return sources.intersection(names)


def _read_file(path: Path) -> pa.Table:
    """One file's impressions (without a merged file's metadata)."""
    with pq.ParquetFile(path) as file:  # twice as fast as `pq.read_table` on small files
        return file.read().replace_schema_metadata()


def _merges(folder: Path) -> int:
    """How many merges the folder has seen (the lock file's size; 0 before the first)."""
    try:
        return (folder / LOCK_NAME).stat().st_size
    except FileNotFoundError:
        return 0


@contextlib.contextmanager
def _compaction_lock(folder: Path) -> Iterator[int | None]:
    """The lock file's descriptor, held exclusively; None when another process holds it."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield fd
    finally:
        os.close(fd)  # releases the lock


class ImpressionLog:
    """The impressions of one embedded store, in `folder` (created on the first append).

    Args:
        folder: `<store>/impressions`.
        readonly: Never write (a read then never compacts).
        fanout: Files of one level that become one file of the next (`FANOUT`).
    """

    def __init__(self, folder: Path, readonly: bool = False, fanout: int = FANOUT):
        self.folder = folder
        self.readonly = readonly
        self.fanout = fanout
        self._count = itertools.count()
        self._appends: collections.Counter[str] = collections.Counter()

    def append(self, rows: list[dict]) -> None:
        """Write impressions durably, one file per experiment present in `rows`.

        After every `fanout` appends to an experiment, its folder is compacted when due.
        """
        for experiment, group in itertools.groupby(
            sorted(rows, key=lambda r: r["experiment"]), key=lambda r: r["experiment"]
        ):
            folder = self.folder / experiment
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns()}-{os.getpid()}-{next(self._count)}.parquet"
            table = to_table(list(group))
            replace_atomically(
                folder / name, lambda t, tb=table: pq.write_table(tb, t), replace=False
            )
            self._appends[experiment] += 1
            if self._appends[experiment] % self.fanout == 0:
                self._compact_quietly(experiment)

    def _compact_quietly(self, experiment: str) -> None:
        """`compact`, logging rather than raising: after an append, an error would make the
        caller write its (durable) impressions twice; before a read, fail it for nothing."""
        try:
            self.compact(experiment)
        except Exception:
            logger.exception("compaction of the impressions of %r failed", experiment)

    def read(self, experiment: str) -> pd.DataFrame:
        """Every impression of `experiment`, in the order of the appends (empty frame when none).

        Raises:
            StoreError: Compactions changed the folder during each of `READ_ATTEMPTS` reads.
        """
        folder = self.folder / experiment
        if not self.readonly and sum(level(n) == 0 for n in _listing(folder)) >= self.fanout:
            self._compact_quietly(experiment)
        for attempt in range(READ_ATTEMPTS):
            try:
                table = self._read_once(folder)
            except FileNotFoundError:  # a compactor deleted a listed file
                table = None
            if table is not None:
                return to_frame(table)
            time.sleep(min(0.005 * attempt, 0.1))  # a merge's deletes take a moment
        raise StoreError(f"the impressions of {experiment!r} kept changing while read")

    def _read_once(self, folder: Path) -> pa.Table | None:
        """The folder's impressions, or None when a merge happened meanwhile."""
        merges = _merges(folder)
        names = _listing(folder)
        covered = _covered(folder, names)
        tables = [_read_file(folder / n) for n in names if n not in covered]
        if _merges(folder) != merges:
            return None
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    def compact(self, experiment: str) -> bool:
        """Merge the oldest `fanout` files of a level into one of the next, while a level has
        as many, lowest level first.

        First deletes what a crashed compaction left (covered sources, temp files).

        Returns:
            False when another process is compacting this folder (nothing done), else True.
        """
        folder = self.folder / experiment
        if not folder.is_dir():
            return True
        with _compaction_lock(folder) as lock:
            if lock is None:
                return False
            names = self._clean(folder)
            while sources := self._due(names):
                merged = self._merge(folder, sources, level(sources[0]) + 1, lock)
                names = sorted(set(names).difference(sources) | {merged}, key=_key)
        return True

    def _due(self, names: list[str]) -> list[str]:
        """The oldest `fanout` files of the lowest level that holds as many ([] when none)."""
        by_level = collections.defaultdict(list)
        for name in names:  # by key, so each level's list is oldest first
            by_level[level(name)].append(name)
        for _, found in sorted(by_level.items()):
            if len(found) >= self.fanout:
                return found[: self.fanout]
        return []

    def _clean(self, folder: Path) -> list[str]:
        """Delete a crashed compaction's leftovers and stale temp files; the files that remain."""
        names = _listing(folder)
        doomed = [folder / n for n in _covered(folder, names)]
        for name in os.listdir(folder):
            target = temp_target(name)
            if target is not None and target.endswith(".parquet"):
                path = folder / name
                # A merge's temp file is a dead compactor's (this process holds the lock);
                # an append's may be in progress, unless it is old.
                if level(target) or _age(path) > STALE_APPEND_SECONDS:
                    doomed.append(path)
        for path in doomed:
            path.unlink(missing_ok=True)
        if doomed:
            fsync_dir(folder)
            logger.info("removed %d leftover impression files in %s", len(doomed), folder)
        return [n for n in names if folder / n not in doomed]

    def _merge(self, folder: Path, sources: list[str], into: int, lock: int) -> str:
        """Write `sources` (sorted by key) as one file of level `into`, then delete them.

        Returns:
            The merged file's name.
        """
        name = f"{_key(sources[0])}.L{into}.parquet"
        schema = SCHEMA.with_metadata({SOURCES_KEY: json.dumps(sources).encode()})

        def write(temp: Path) -> None:
            with pq.ParquetWriter(temp, schema) as writer:
                pending: list[pa.Table] = []
                for i, source in enumerate(sources, 1):
                    pending.append(_read_file(folder / source))
                    if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS or i == len(sources):
                        writer.write_table(pa.concat_tables(pending))
                        pending = []

        # Never replaces a file (names are unique under the lock; a clash raises).
        replace_atomically(folder / name, write, replace=False)
        os.write(lock, b".")  # one more merge: readers that overlap it read again
        for source in sources:
            (folder / source).unlink()
        fsync_dir(folder)
        return name


def _age(path: Path) -> float:
    """Seconds since the file was last modified (0 when it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
