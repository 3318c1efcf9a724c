"""The `Store`: in-memory tables made durable by a write-ahead log and Parquet snapshots."""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import shutil
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from discerner import schema
from discerner.errors import (
    DuplicateExternalIdError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreReadOnlyError,
    UnknownProductError,
    UnknownUserError,
)
from discerner.store import frames, records, values
from discerner.store import snapshot as snap
from discerner.store.accounts import AccountBook
from discerner.store.files import fsync_dir, move_aside, replace_atomically
from discerner.store.log import LogWriter, first_seq, log_name, read_log
from discerner.store.tables import (
    ActivityTable,
    EntityTable,
    UserIndexPart,
    iso_utc,
    now_micros,
)

logger = logging.getLogger(__name__)

COMPACT_INTERVAL = 10.0
COMPACT_LOG_BYTES = 32 << 20
# A delete is folded into a snapshot (its data leaves the disk) once it is this old: within
# DELETE_COMPACT_SECONDS + COMPACT_INTERVAL of the delete, plus the compaction's own time.
DELETE_COMPACT_SECONDS = 60.0
# A compaction also rebuilds the in-memory activities (dropping every tombstone, joining
# chunks) when any row is deleted or there are more chunks than this.
MAX_CHUNKS = 256
ORPHANS = "orphans"
_OPEN_ATTEMPTS = 20


class Store:
    """Users, products, activities and accounts of one store folder. Use `Store.open`.

    Thread-safe: one lock guards every in-memory table; writes are applied under it and then
    made durable by the group-committing log outside it, so a write returns once it is on disk.
    """

    def __init__(
        self,
        path: Path,
        readonly: bool,
        compact_interval: float = 0,
        compact_bytes: int = COMPACT_LOG_BYTES,
        delete_compact_seconds: float = DELETE_COMPACT_SECONDS,
    ):
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._compact_lock = threading.Lock()
        self._interval, self._compact_bytes = compact_interval, compact_bytes
        self._delete_delay = delete_compact_seconds
        # (seq, monotonic time) of each delete not yet folded into a snapshot, oldest first.
        self._deletes: deque[tuple[int, float]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None
        self._log: LogWriter | None = None
        self._old_logs: list[Path] = []
        self._closed = False
        self._fell_back = False
        self._version_cache: tuple[int, dict] | None = None
        self._categories: tuple[int, dict] | None = None
        self._accounts = AccountBook(self.path, readonly=readonly)
        # History versions: a tick, process-local and never reused, per change of histories.
        self._ticks = itertools.count(1)
        self._reset()

    # ----------------------------------------------------------------- opening and closing

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        readonly: bool = False,
        *,
        compact_interval: float = COMPACT_INTERVAL,
        compact_bytes: int = COMPACT_LOG_BYTES,
        delete_compact_seconds: float = DELETE_COMPACT_SECONDS,
    ) -> Store:
        """Open a store folder.

        Args:
            path: The store folder (`discerner.config.store_dir(home)`); a writer creates it.
            readonly: Take no lock and never write; sees every write acknowledged before now.
            compact_interval: Seconds between the writer's background compaction checks
                (0 turns the background thread off).
            compact_bytes: Log size that triggers a background compaction.
            delete_compact_seconds: Age of a delete that triggers a background compaction,
                which removes the deleted data from disk and memory.

        Returns:
            The open store (also a context manager).

        Raises:
            StoreLockedError: Another process has the store open for writing.
            StoreCorruptError: A file is damaged, or the manifest, snapshots and log disagree
                (then nothing is changed); the message names the file and what to do.
        """
        store = cls(Path(path), readonly, compact_interval, compact_bytes, delete_compact_seconds)
        if readonly:
            store._open_readonly()
        else:
            store._open_writer()
        return store

    def _reset(self) -> None:
        self._users, self._products = EntityTable(), EntityTable()
        self._acts = ActivityTable()
        self._history_ticks: dict[int, int] = {}  # user -> tick of their last history change
        self._all_histories_tick = next(self._ticks)  # tick of the last change to many users
        self._seq = self._snapshot_seq = 0
        self._manifest: dict | None = None
        self._segments: list[Path] = []
        self._deletes.clear()

    def _open_writer(self) -> None:
        if not self.path.exists():
            self.path.mkdir(parents=True, mode=0o700)
            fsync_dir(self.path.parent)  # the new folder itself survives a crash
        self._take_lock()
        try:
            for name in ("snapshots", "log", "segments"):
                (self.path / name).mkdir(exist_ok=True)
            fsync_dir(self.path)
            logs = self._load(recover=True)
            self._tidy_leftovers()
            current = logs[-1] if logs else self.path / "log" / log_name(self._seq + 1)
            self._old_logs = logs[:-1]
            self._log = LogWriter(current, self._seq)
            fsync_dir(current.parent)
        except BaseException:
            self._release_lock()
            raise
        if self._interval > 0:
            self._thread = threading.Thread(target=self._background, daemon=True, name="compact")
            self._thread.start()
        logger.info("store %s open for writing at version %d", self.path, self._seq)

    def _open_readonly(self) -> None:
        """Load the store; when that fails because a compaction replaced files, load again.

        A writer removes a log, segment or snapshot only after publishing a manifest that no
        longer needs it, so a failure while the manifest stayed the same is the store's own;
        and a load that succeeded saw every write acknowledged before it started: the log
        files' names prove that no records are missing between the snapshot and the end.
        """
        for _ in range(_OPEN_ATTEMPTS):
            self._reset()
            try:
                self._load(recover=False)
                return
            except StoreCorruptError:
                if not self._manifest_changed():
                    raise
                logger.debug("store %s changed while opening; reading it again", self.path)
                time.sleep(0.05)
        raise StoreError(f"could not open the store {self.path}: it kept changing while read")

    def _manifest_changed(self) -> bool:
        """Whether the manifest on disk differs from the one the last `_load` read."""
        try:
            return snap.read_manifest(self.path) != self._manifest
        except (OSError, ValueError):  # unreadable now: the error to report is the first one
            return False

    def _take_lock(self) -> None:
        fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"the store {self.path} is open for writing by another process (pid {holder});"
                " stop it, or open the store read-only"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        """Stop background work, compact what the log holds, flush, and release the lock."""
        if self._closed:
            return
        if not self.readonly:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            try:
                self.compact()
            finally:
                with self._lock:
                    self._closed = True
                    self._log.close()
                self._release_lock()
        self._closed = True
        logger.info("store %s closed at version %d", self.path, self._seq)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- loading and replay

    def _load(self, recover: bool, upto: int | None = None) -> list[Path]:
        """Load the snapshot, then replay the log records after it; returns the log files.

        Args:
            recover: Truncate a torn tail (the writer after a crash) instead of skipping it.
            upto: Replay no record after this sequence number.

        Raises:
            StoreCorruptError: A file is damaged or missing, or records are missing between
                the snapshot and the log or between log files.
        """
        with self._reading(self.path / snap.MANIFEST):
            self._manifest = snap.read_manifest(self.path)
        if self._manifest is not None:
            self._load_snapshot(self._manifest)
        logs = sorted((self.path / "log").glob("*.wal"))
        for i, log in enumerate(logs):
            self._check_follows(log)
            with self._reading(log):
                found, end, torn = read_log(log, last=i == len(logs) - 1)
            if torn:
                self._torn_tail(log, end, recover)
            for offset, payload in found:
                self._replay(payload, log, offset, upto)
        return logs

    def _load_snapshot(self, manifest: dict) -> None:
        """Load the snapshot's files, each checked against the manifest's checksum.

        The checksums run in a thread beside the parsing (zlib releases the GIL), so they
        add little to the time of an open. A failed check is reported before any parsing
        error, as it names the damaged file for sure.
        """
        folder = self.path / manifest["snapshot"]
        sums = manifest.get("files", {})  # absent in manifests of older versions
        with ThreadPoolExecutor(1, thread_name_prefix="verify") as pool:
            checks = [
                (folder / name, pool.submit(snap.verify, folder / name, sums[name]))
                for name in snap.SNAPSHOT_FILES
                if name in sums
            ]
            try:
                self._load_snapshot_files(folder)
            finally:
                for path, check in checks:
                    with self._reading(path):
                        check.result()
        next_ids = manifest["next_ids"]
        self._users.next_id = max(self._users.next_id, next_ids["users"])
        self._products.next_id = max(self._products.next_id, next_ids["products"])
        self._acts.next_id = max(self._acts.next_id, next_ids["activities"])
        self._seq = self._snapshot_seq = manifest["seq"]

    def _load_snapshot_files(self, folder: Path) -> None:
        # One file per `_reading`, so that a damaged file is named in the error.
        with self._reading(folder / "users.parquet"):
            snap.load_entities(folder / "users.parquet", self._users)
        with self._reading(folder / "products.parquet"):
            snap.load_entities(folder / "products.parquet", self._products)
        with self._reading(folder / "activities.parquet"):
            activities = snap.read_activities(folder / "activities.parquet")
        with self._reading(folder / UserIndexPart.FILES[-1]):
            index = UserIndexPart.load(folder)
        self._acts.add_sealed(activities, index)
        snap.release_memory()

    def _check_follows(self, log: Path) -> None:
        """Refuse a log file that starts after the record loaded last: records are missing.

        A log file is named after its first record, so this also catches a lost log that
        left an empty (or no) file behind, which replay alone cannot notice.
        """
        start = first_seq(log)
        if start <= self._seq + 1:
            return
        missing = f"log records {self._seq + 1}..{start - 1} are missing"
        folders = self.path / "snapshots"
        names = sorted(p.name for p in folders.iterdir()) if folders.is_dir() else []
        newer = [n for n in names if snap.SNAPSHOT_NAME.fullmatch(n) and int(n) > self._seq]
        if newer and self._manifest is None:
            message = (
                f"{missing}, and manifest.json is missing although snapshots/{newer[-1]} holds"
                " data: restore manifest.json from a backup; do not delete the snapshot folders"
            )
        elif newer:
            message = (
                f"{missing}: manifest.json (at record {self._seq}) is older than"
                f" snapshots/{newer[-1]}, as if restored from an old backup; put back the"
                " manifest.json written with that snapshot"
            )
        else:
            message = f"{missing}: a log file was lost; restore it from a backup"
        raise StoreCorruptError(message + " (nothing was moved or deleted)", path=str(log))

    @contextmanager
    def _reading(self, path: Path):
        """Turn a failure to read a store file into the store's errors."""
        try:
            yield
        except FileNotFoundError:  # a read-only open reads again if a compaction removed it
            raise StoreCorruptError("a file the store needs is missing", path=str(path)) from None
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:  # ArrowIOError is OSError
            raise StoreCorruptError(f"unreadable ({exc})", path=str(path)) from None

    def _torn_tail(self, log: Path, end: int, recover: bool) -> None:
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

    def _replay(self, payload: bytes, log: Path, offset: int, upto: int | None = None) -> None:
        """Check and apply one log record; a record it cannot apply names file and offset."""
        try:
            op = json.loads(payload)
            seq = records.sequence(op)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise StoreCorruptError(
                f"bad log record ({exc})", path=str(log), offset=offset
            ) from None
        if seq <= self._seq or (upto is not None and seq > upto):
            return
        if seq != self._seq + 1:
            raise StoreCorruptError(
                f"log record {seq} follows record {self._seq}: records"
                f" {self._seq + 1}..{seq - 1} are missing",
                path=str(log),
                offset=offset,
            )
        try:
            records.check(op, self._users, self._products, self._acts)
        except ValueError as exc:
            message = f"bad log record {seq} ({exc})"
            raise StoreCorruptError(message, path=str(log), offset=offset) from None
        self._apply(op)
        self._seq = seq

    def _tidy_leftovers(self) -> None:
        """Deal with what the manifest and the log do not use, once they are loaded.

        Removed: what the store provably holds elsewhere (snapshots up to the last record,
        segments folded into the snapshot, half-written files). Refused: a snapshot newer
        than the last record (the store lacks its data). Moved to `orphans/`: the rest.
        """
        segments = {p.name for p in self._segments}
        found = snap.leftovers(self.path, self._manifest, self._seq, segments)
        if found["newer"]:
            newest = found["newer"][-1]
            raise StoreCorruptError(
                f"this snapshot is newer than the last record the manifest and the log hold"
                f" ({self._seq}): the log after it was lost, or manifest.json is an old copy;"
                " restore both from a backup (nothing was moved or deleted)",
                path=str(newest),
            )
        for path in found["redundant"]:
            logger.info("removing %s: the store holds its data in its snapshot and log", path)
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if found["unknown"]:
            moved = move_aside(found["unknown"], self.path, self.path / ORPHANS)
            logger.warning(
                "moved %s to %s: the store does not use them (nothing deletes that folder;"
                " check it and delete it)",
                ", ".join(str(p.relative_to(self.path)) for p in found["unknown"]),
                moved,
            )
        for name in ("snapshots", "segments"):
            fsync_dir(self.path / name)

    # ----------------------------------------------------------------- applying operations

    def _apply(self, op: dict, segment: dict | None = None) -> None:
        kind = op["op"]
        if kind == "user":
            self._users.append(op["id"], op["t"], op.get("x"), op.get("a"))
        elif kind == "product":
            self._products.append(op["id"], op["t"], op.get("x"), op.get("a"))
        elif kind == "acts":
            tick = next(self._ticks)
            self._history_ticks.update((record[1], tick) for record in op["r"])
            self._acts.append(op["r"])
        elif kind == "del_user":
            self._deletes.append((op["s"], time.monotonic()))  # to purge from disk soon
            self._history_ticks[op["id"]] = next(self._ticks)
            self._users.delete(op["id"])
            self._acts.kill_rows(self._acts.user_rows(op["id"]))
            self._acts.recent.pop(op["id"], None)
        elif kind == "del_product":
            self._deletes.append((op["s"], time.monotonic()))
            self._all_histories_tick = next(self._ticks)
            self._products.delete(op["id"])
            self._acts.kill_product(op["id"])
        elif kind == "import":
            self._all_histories_tick = next(self._ticks)
            self._apply_import(op, segment)
        else:
            raise StoreCorruptError(f"unknown log operation {kind!r}", path=str(self.path))

    def _apply_import(self, op: dict, segment: dict | None) -> None:
        path = self.path / "segments" / op["segment"]
        if segment is None:
            segment = self._read_segment(path, op)
        self._users.add_many(np.asarray(op["users"], np.int64), op["t"])
        self._products.add_many(np.asarray(op["products"], np.int64), op["t"])
        self._acts.add_sealed(segment)
        self._segments.append(path)

    def _read_segment(self, path: Path, op: dict) -> dict:
        """Read an import's segment, checked against its log record."""
        with self._reading(path):
            if "sum" in op:  # absent in records of older versions
                snap.verify(path, op["sum"])
            segment = snap.read_activities(path)
        ids = segment["id"]
        if len(ids) != op["rows"] or (len(ids) and ids[0] < self._acts.next_id):
            raise StoreCorruptError(
                f"the segment holds {len(ids)} activities, its log record says {op['rows']}"
                f" from id {self._acts.next_id}",
                path=str(path),
            )
        return segment

    def _check_writable(self) -> None:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        if self.readonly:
            raise StoreReadOnlyError(f"the store {self.path} is open read-only")

    def _commit(self, op: dict, segment: dict | None = None) -> tuple[LogWriter, int]:
        """Apply and log one operation; call holding the lock, then wait on the log outside it."""
        self._log.check()  # a failed log takes no more writes: apply nothing either
        seq = self._seq + 1
        op["s"] = seq
        payload = json.dumps(op, separators=(",", ":")).encode()
        self._apply(op, segment)
        self._seq = seq
        self._log.append(seq, payload)
        return self._log, seq

    def _wait(self, log: LogWriter, seq: int) -> None:
        """Wait until `seq` is durable; if the log failed, fall back to the durable state."""
        try:
            log.wait(seq)
        except StoreError:
            self._fall_back_to_durable(log)
            raise

    def _fall_back_to_durable(self, log: LogWriter) -> None:
        """Reload the tables from disk up to the last durable record, once.

        Writes are applied in memory before they are durable; when the log fails, the ones
        it could not make durable were refused to their callers and must not stay visible.
        The log stays failed, so every later write is refused too.
        """
        with self._compact_lock, self._lock:
            if self._fell_back:
                return
            self._fell_back = True
            durable = log.durable_seq
            logger.error("the log failed: reloading the store up to version %d", durable)
            fresh = Store(self.path, True)
            try:
                fresh._load(recover=False, upto=durable)
            except Exception:
                logger.exception("could not reload %s; reads may show refused writes", self.path)
                return
            for name in ("_users", "_products", "_acts", "_seq", "_manifest", "_segments"):
                setattr(self, name, getattr(fresh, name))
            self._all_histories_tick = next(self._ticks)  # refused writes left the histories
            self._snapshot_seq = fresh._snapshot_seq
            self._version_cache = self._categories = None

    def _write(self, build):
        """Run `build()` under the lock to get (op, result), commit it, and wait until durable."""
        with self._lock:
            self._check_writable()
            op, result = build()
            log, seq = self._commit(op)
        self._wait(log, seq)
        return result

    # ----------------------------------------------------------------- accounts

    def create_account(self, username: str, password_hash: str) -> dict:
        """Add an API account (see `AccountBook.create`).

        Raises:
            AccountExistsError: The username is taken.
            ValueError: The username is not 1-64 characters of [A-Za-z0-9_.@-].
        """
        return self._accounts.create(username, password_hash)

    def get_account(self, username: str) -> dict | None:
        """{"username", "password_hash", "created_at", "token_version"} or None.

        Re-reads the accounts file only when it changed (one `stat` per call).
        """
        return self._accounts.get(username)

    def list_accounts(self) -> list[dict]:
        """Every account, ordered by username."""
        return self._accounts.list()

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace an account's password hash and bump its token_version (revoking tokens)."""
        return self._accounts.set_password(username, password_hash)

    def delete_account(self, username: str) -> bool:
        """Remove an account; False when there is none."""
        return self._accounts.delete(username)

    # ----------------------------------------------------------------- users and products

    def create_user(self, external_id: str | None = None, attributes: dict | None = None) -> dict:
        """Create a user with the next id.

        Args:
            external_id: An optional unique string naming the user in the caller's system.
            attributes: A flat dict of str -> str|int|float|bool.

        Returns:
            {"id", "created_at", "external_id", **attributes}.

        Raises:
            DuplicateExternalIdError: Another user has that external id.
            ValueError: An argument is malformed.
        """
        return self._create_entity("user", self._users, external_id, attributes)

    def create_product(
        self, external_id: str | None = None, attributes: dict | None = None
    ) -> dict:
        """Create a product with the next id; `attributes` usually holds its `category`.

        Returns and raises as `create_user`.
        """
        return self._create_entity("product", self._products, external_id, attributes)

    def _create_entity(self, kind: str, table: EntityTable, external_id, attributes) -> dict:
        external = values.external_id(external_id)
        attrs = values.attributes(attributes)

        def build():
            if external is not None and external in table.by_external:
                raise DuplicateExternalIdError(f"a {kind} with external_id {external!r} exists")
            op = {"op": kind, "id": table.next_id, "t": now_micros(), "x": external, "a": attrs}
            record = {"id": op["id"], "created_at": iso_utc(op["t"]), "external_id": external}
            return op, record | (attrs or {})

        return self._write(build)

    def get_user(self, user_id: int) -> dict | None:
        """The user's dict, or None when there is no live user with that id."""
        return self._get(self._users, user_id)

    def get_product(self, product_id: int) -> dict | None:
        """The product's dict, or None when there is no live product with that id."""
        return self._get(self._products, product_id)

    def _get(self, table: EntityTable, entity_id) -> dict | None:
        with self._lock:
            wanted = isinstance(entity_id, int | np.integer) and not isinstance(entity_id, bool)
            row = table.row(entity_id) if wanted else None
            return None if row is None else table.record(row)

    def get_user_by_external_id(self, external_id: str) -> dict | None:
        """The live user with that external id, or None."""
        with self._lock:
            found = self._users.by_external.get(external_id)
            return None if found is None else self._get(self._users, found)

    def get_product_by_external_id(self, external_id: str) -> dict | None:
        """The live product with that external id, or None."""
        with self._lock:
            found = self._products.by_external.get(external_id)
            return None if found is None else self._get(self._products, found)

    def has_user(self, user_id: int) -> bool:
        """Whether a live user has this id (a dict look-up)."""
        # Without the lock: every request asks, and a contended lock makes request threads
        # queue for it and for the GIL in turn. A dict look-up and one flag read are each
        # atomic, and an entity's row is in the dict only once its flag is set.
        return self._users.row(user_id) is not None

    def has_product(self, product_id: int) -> bool:
        """Whether a live product has this id (a dict look-up)."""
        return self._products.row(product_id) is not None  # lock-free, as `has_user`

    def list_users(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` users with id > `after`, ascending by id (keyset pagination)."""
        with self._lock:
            return self._users.page(after, _limit(limit))

    def list_products(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` products with id > `after`, ascending by id (keyset pagination)."""
        with self._lock:
            return self._products.page(after, _limit(limit))

    def count_users(self) -> int:
        """Number of live users."""
        return self._users.live

    def count_products(self) -> int:
        """Number of live products."""
        return self._products.live

    def count_activities(self) -> int:
        """Number of live activities."""
        return self._acts.live

    def delete_user(self, user_id: int) -> bool:
        """Delete a user and, durably, every activity of theirs; False when there is none."""
        return self._delete("del_user", self._users, user_id)

    def delete_product(self, product_id: int) -> bool:
        """Delete a product and, durably, every activity with it; False when there is none."""
        return self._delete("del_product", self._products, product_id)

    def _delete(self, kind: str, table: EntityTable, entity_id: int) -> bool:
        with self._lock:
            self._check_writable()
            if table.row(entity_id) is None:
                return False
            log, seq = self._commit({"op": kind, "id": int(entity_id)})
        self._wait(log, seq)
        return True

    # ----------------------------------------------------------------- activities

    def add_activity(
        self, user_id: int, product_id: int, score: float = 1.0, timestamp=None
    ) -> dict:
        """Record that a user did something with a product, durably.

        Args:
            user_id: An existing user's id.
            product_id: An existing product's id.
            score: A finite number (default 1.0).
            timestamp: When: None (now), a datetime, an ISO 8601 string or Unix seconds.

        Returns:
            {"id", "user_id", "product_id", "score", "timestamp"}.

        Raises:
            UnknownUserError: No live user has `user_id`.
            UnknownProductError: No live product has `product_id`.
            ValueError: An argument is malformed.
        """
        return self.add_activities(
            [{"user_id": user_id, "product_id": product_id, "score": score, "timestamp": timestamp}]
        )[0]

    def add_activities(self, rows: list[dict]) -> list[dict]:
        """Record many activities at once: all or nothing, in one durable commit.

        Args:
            rows: Dicts with `user_id`, `product_id` and optional `score`, `timestamp`.

        Returns:
            One dict per row, as `add_activity` returns.

        Raises:
            As `add_activity`, for the first bad row; then nothing is recorded.
        """
        parsed = [_activity_values(row) for row in rows]
        if not parsed:
            return []

        def build():
            for user, product, _, _ in parsed:
                if self._users.row(user) is None:
                    raise UnknownUserError(user)
                if self._products.row(product) is None:
                    raise UnknownProductError(product)
            first = self._acts.next_id
            records = [[first + i, *values] for i, values in enumerate(parsed)]
            return {"op": "acts", "r": records}, [_activity_dict(r) for r in records]

        return self._write(build)

    def list_activities(
        self,
        after: int = 0,
        limit: int = 1000,
        user_id: int | None = None,
        product_id: int | None = None,
    ) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending, optionally of one user
        and/or one product.

        A product's page is a search in the per-product index, O(log n + page); the index is
        built on the first such page (and after a compaction renumbers rows), sorting outside
        the writers' lock.
        """
        limit = _limit(limit)
        while user_id is None and product_id is not None:
            self._acts.index_products(self._lock)
            with self._lock:  # None: chunks were sealed since; index them too, then page
                page = self._acts.product_page(product_id, after, limit)
            if page is not None:
                return page
        with self._lock:
            if user_id is None:
                return self._acts.page(after, limit)
            rows = self._acts.user_rows(user_id)
            if product_id is not None:
                products = self._acts.gather(rows, ("product",))["product"]
                rows = rows[products == product_id]
            return self._acts.page_of_rows(rows, after, limit)

    def user_history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids int64, scores float64) of a user's live activities, oldest first.

        Served from the per-user index; an unknown user has empty arrays.
        """
        with self._lock:
            rows = self._acts.user_rows(user_id)
            got = self._acts.gather(rows, ("id", "product", "score", "ts"))
        order = np.lexsort((got["id"], got["ts"]))
        return got["product"][order], got["score"][order]

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed (never reused).

        Cheap and lock-free, for caches of answers computed from `user_history`: read the
        version first, then the history, and keep the answer under that version; an answer
        whose version is still current was computed from the current history.
        """
        return max(self._history_ticks.get(user_id, 0), self._all_histories_tick)

    def product_counts(self) -> pd.DataFrame:
        """Per product with live activities: product_id, count, score_sum; ascending id.

        Cheaper than `interactions()` for popularity: no copy of the activity columns.
        """
        with self._lock:
            views = self._acts.views()
        totals = frames.product_totals(views)
        counts = {"product_id": totals[0], "count": totals[1], "score_sum": totals[2]}
        return pd.DataFrame(counts)

    def product_categories(self) -> dict[int, str]:
        """{product id: category} of live products that have a category.

        The same dict object is returned until a product changes (callers may cache by
        identity); treat it as read-only.
        """
        with self._lock:
            table = self._products
            if self._categories is None or self._categories[0] != table.changes:
                found = {}
                for row in table.live_rows().tolist():
                    category = (table.attrs[row] or {}).get("category")
                    if category is not None:
                        found[int(table.ids[row])] = str(category)
                self._categories = (table.changes, found)
            return self._categories[1]

    # ----------------------------------------------------------------- frames

    def interactions(self) -> pd.DataFrame:
        """A consistent copy of every live activity: user_id, product_id, score, timestamp."""
        with self._lock:
            views = self._acts.views()
        cols = frames.concat(views, ("user", "product", "score", "ts"))
        return pd.DataFrame(
            {
                schema.USER_ID: cols["user"],
                schema.PRODUCT_ID: cols["product"],
                schema.SCORE: cols["score"],
                schema.TIMESTAMP: frames.times(cols["ts"]),
            }
        )

    def users_frame(self) -> pd.DataFrame:
        """Live users: id, created_at, external_id and one column per attribute name."""
        with self._lock:
            frozen = self._users.frozen()
        return frames.entity_frame(frozen)

    def products_frame(self) -> pd.DataFrame:
        """Live products: id, created_at, external_id and one column per attribute name."""
        with self._lock:
            frozen = self._products.frozen()
        return frames.entity_frame(frozen)

    # ----------------------------------------------------------------- versions and files

    def data_version(self) -> dict:
        """{"version", "users", "products", "activities", "hash"} of the data seen now.

        `version` is the sequence number of the last write (monotonic, never reused); `hash`
        is a content hash of the live rows, so equal data has equal hashes.
        """
        with self._lock:
            cached = self._version_cache
            if cached is not None and cached[0] == self._seq:
                return dict(cached[1])
            state = self._capture()
        version = frames.version_of(state)
        with self._lock:
            self._version_cache = (state["seq"], version)
        return dict(version)

    def _capture(self) -> dict:
        """A consistent picture of every table, cheap to take under the lock."""
        return {
            "seq": self._seq,
            "users": self._users.frozen(),
            "products": self._products.frozen(),
            "views": self._acts.views(),
            "next_ids": {
                "users": self._users.next_id,
                "products": self._products.next_id,
                "activities": self._acts.next_id,
            },
        }

    def export(self, directory: str | os.PathLike[str]) -> dict:
        """Write a consistent snapshot: users, products, activities Parquet files + version.json.

        Returns:
            The data version of the exported data, plus "files" (their paths).
        """
        with self._lock:
            state = self._capture()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        version = frames.version_of(state)
        tables = frames.entity_tables(state)
        for name, table in tables.items():
            replace_atomically(
                folder / f"{name}.parquet", lambda t, tb=table: frames.write_table(tb, t)
            )
        replace_atomically(
            folder / "activities.parquet",
            lambda t: snap.write_activities(t, snap.activity_batches(state["views"])),
        )
        files = [str(folder / f"{n}.parquet") for n in ("users", "products", "activities")]
        (folder / "version.json").write_text(json.dumps(version, indent=1))
        return version | {"files": files}

    def compact(self) -> dict:
        """Fold the log and import segments into a new Parquet snapshot, then drop them.

        The snapshot's files become durable and the manifest is swapped atomically before any
        log file is removed, so a crash at any moment loses nothing.

        Returns:
            The data version of the snapshot.
        """
        with self._compact_lock:
            with self._lock:
                self._check_writable()
                if self._seq == self._snapshot_seq and self._manifest is not None:
                    return self._manifest["version"]
                # Any tombstone is reclaimed: a deleted row must leave memory, not only disk.
                reclaim = self._acts.dead() > 0 or len(self._acts.chunks) > MAX_CHUNKS
                chunks = self._acts.seal() if reclaim else 0
                state, retired = self._capture(), self._rotate_log()
                folded, self._segments = self._segments, []
            try:
                version, index = self._write_snapshot(state, retired, folded)
            except BaseException:
                self._compaction_failed(state["seq"], retired, folded)
                raise
            if reclaim:  # drop the tombstones from memory too
                kept = [alive for _, alive in state["views"]]
                del state  # its views would keep the old columns alive meanwhile
                with self._lock:
                    self._acts.reclaim(chunks, kept, index)
            return version

    def _compaction_failed(self, seq: int, retired: list[Path], folded: list[Path]) -> None:
        """Leave things so that the next compaction succeeds without waiting for a write.

        Nothing is lost (the old manifest and logs still hold everything): the files are
        remembered so that the next successful compaction removes them, and the snapshot
        folder this one wrote is removed, unless the manifest on disk names it (the swap
        happened and a later step failed: then it is the published snapshot).
        """
        name = f"{seq:020d}"
        with self._lock:
            self._old_logs = [*retired, *self._old_logs]
            self._segments = [*folded, *self._segments]
        folder = self.path / "snapshots"
        shutil.rmtree(folder / f".{name}.tmp", ignore_errors=True)
        try:
            on_disk = snap.read_manifest(self.path)
        except (OSError, ValueError):
            logger.exception("cannot read %s after a failed compaction", snap.MANIFEST)
            return  # unknown: keep the folder; a later compaction or open sorts it out
        if on_disk is not None and on_disk["snapshot"] == f"snapshots/{name}":
            with self._lock:
                self._manifest, self._snapshot_seq = on_disk, seq
        else:
            shutil.rmtree(folder / name, ignore_errors=True)

    def _rotate_log(self) -> list[Path]:
        """Start a new log file; returns the retired ones. Call holding the lock."""
        self._log.flush()
        retired = [*self._old_logs, self._log.path]
        fresh = self.path / "log" / log_name(self._seq + 1)
        if fresh == self._log.path:  # nothing was written since this log began
            retired, self._old_logs = self._old_logs, []
            return retired
        new_log = LogWriter(fresh, self._seq)
        fsync_dir(fresh.parent)
        self._log.close()
        self._log, self._old_logs = new_log, []
        return retired

    def _write_snapshot(self, state: dict, retired: list[Path], folded: list[Path]):
        """Write the snapshot of `state`, swap the manifest, remove what it replaced.

        Returns:
            (the data version, the snapshot's per-user index).
        """
        started = time.perf_counter()
        version = frames.version_of(state)
        name = f"{state['seq']:020d}"
        index = snap.snapshot_index(state["views"])
        tables = frames.entity_tables(state)
        _, sums = snap.write_snapshot(self.path / "snapshots", name, tables, state["views"], index)
        manifest = {
            "format": snap.FORMAT,
            "seq": state["seq"],
            "snapshot": f"snapshots/{name}",
            "next_ids": state["next_ids"],
            "version": version,
            "created_at": iso_utc(now_micros()),
            "files": sums,
        }
        previous = self._manifest
        snap.write_manifest(self.path, manifest)
        with self._lock:
            self._manifest, self._snapshot_seq = manifest, state["seq"]
        for path in [*retired, *folded]:
            path.unlink(missing_ok=True)
        if previous is not None and previous["snapshot"] != manifest["snapshot"]:
            shutil.rmtree(self.path / previous["snapshot"], ignore_errors=True)
        for folder in ("log", "segments", "snapshots"):
            fsync_dir(self.path / folder)
        with self._lock:
            while self._deletes and self._deletes[0][0] <= state["seq"]:
                self._deletes.popleft()  # its data has left the disk
        snap.release_memory()
        logger.info(
            "compacted %s at version %d (%d activities) in %.1f s",
            self.path,
            state["seq"],
            version["activities"],
            time.perf_counter() - started,
        )
        return version, index

    def _background(self) -> None:
        while not self._stop.wait(self._interval):
            if self._log.failed:  # nothing can be compacted safely until a restart
                logger.error("background compaction of %s stopped: the log failed", self.path)
                return
            if self._needs_compaction():
                try:
                    self.compact()
                except Exception:  # the next round tries again; writes go on meanwhile
                    logger.exception("background compaction of %s failed", self.path)

    def _needs_compaction(self) -> bool:
        with self._lock:
            old = sum(p.stat().st_size for p in self._old_logs if p.exists())
            # A delete's data stays in the log and the old snapshot until a compaction.
            purge = bool(self._deletes) and (
                time.monotonic() - self._deletes[0][1] >= self._delete_delay
            )
            return bool(self._segments) or purge or old + self._log.size >= self._compact_bytes

    # ----------------------------------------------------------------- bulk import

    def import_interactions(self, frame: pd.DataFrame, progress: bool = True) -> dict:
        """Bulk-load interactions, keeping the frame's user and product ids.

        Missing users and products are created. All or nothing: the rows go to one Parquet
        segment that a single log record commits.

        Args:
            frame: Columns user_id, product_id, optional score and timestamp (validated here;
                a missing timestamp means now).
            progress: Show a tqdm progress bar.

        Returns:
            {"activities", "users_created", "products_created", "version"}.

        Raises:
            DataFormatError: The frame is malformed (nothing is imported).
        """
        frame = schema.validate_interactions(frame)
        n = len(frame)
        if n == 0:
            return {
                "activities": 0,
                "users_created": 0,
                "products_created": 0,
                "version": self._seq,
            }
        with tqdm(total=n, unit="row", desc="import", disable=not progress) as bar:
            with self._lock:
                self._check_writable()
                op, cols = self._import_plan(frame)
                op["sum"] = self._write_segment(op["segment"], cols, bar)
                log, seq = self._commit(op, segment=cols)
            self._wait(log, seq)
        return {
            "activities": n,
            "users_created": len(op["users"]),
            "products_created": len(op["products"]),
            "version": seq,
        }

    def _import_plan(self, frame: pd.DataFrame) -> tuple[dict, dict]:
        now = now_micros()
        users = np.unique(frame[schema.USER_ID].to_numpy())
        products = np.unique(frame[schema.PRODUCT_ID].to_numpy())
        first = self._acts.next_id
        ts = pd.DatetimeIndex(frame[schema.TIMESTAMP]).as_unit("us").asi8.copy()
        ts[ts == np.iinfo(np.int64).min] = now
        cols = {
            "id": np.arange(first, first + len(frame), dtype=np.int64),
            "user": frame[schema.USER_ID].to_numpy(np.int64),
            "product": frame[schema.PRODUCT_ID].to_numpy(np.int64),
            "score": frame[schema.SCORE].to_numpy(np.float64),
            "ts": ts,
        }
        op = {
            "op": "import",
            "segment": f"{self._seq + 1:020d}.parquet",
            "rows": len(frame),
            "users": [u for u in users.tolist() if self._users.row(u) is None],
            "products": [p for p in products.tolist() if self._products.row(p) is None],
            "t": now,
        }
        return op, cols

    def _write_segment(self, name: str, cols: dict, bar) -> dict:
        """Write an import's rows to a segment file; returns its checksum for the log record."""

        def batches():
            n = len(cols["id"])
            for batch in snap.activity_batches([(cols, np.ones(n, bool))], 1 << 18):
                bar.update(batch.num_rows)
                yield batch

        path = self.path / "segments" / name
        replace_atomically(path, lambda temp: snap.write_activities(temp, batches()))
        return snap.checksum(path)


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")
    return limit


def _activity_values(row: dict) -> tuple[int, int, float, int]:
    return (
        values.entity_id(row.get("user_id"), "user_id"),
        values.entity_id(row.get("product_id"), "product_id"),
        values.score(row.get("score", 1.0) if row.get("score") is not None else 1.0),
        values.timestamp(row.get("timestamp")),
    )


def _activity_dict(record: list) -> dict:
    return dict(zip(("id", "user_id", "product_id", "score"), record[:4], strict=True)) | {
        "timestamp": iso_utc(record[4])
    }


__all__ = ["Store"]
