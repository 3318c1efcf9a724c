"""The store: durable, concurrent, crash-safe tables of accounts, users, products and activities.

What every backend promises is `StoreContract` (contract.py), checked for each backend by
`tests/store/contract/`. `Store` is the embedded backend: open it with
`Store.open(config.store_dir(home))` (one writer process; any number of read-only opens).
Reads are served from memory: columnar numpy arrays with a per-user index.

Where things are
    contract.py        `StoreContract`: the methods callers use and what each promises
    values.py          the limits on ids, scores, times, attributes and page sizes; the
                       product fields (labels, hidden, expires_at); JSON merge patches
    product_rules.py   `ProductRules`: hidden, expiring and labelled products at one moment
    activity_types.py  activity types as int16 codes, interned once per process
    facade.py          `StoreFacade`: the contract's methods that every backend answers by
                       asking one of its parts (users, products, activities, accounts)
    embedded.py        `Store`: opens the parts below and delegates each method to one of them
    engine.py          how a write becomes durable: the writer's lock, apply + log + wait
                       (group commit), the fall-back to the last durable record; open/close
    log.py             the log file format (length, CRC, payload) and the group-committing writer
    recovery.py        open: load the snapshot, replay the log, drop a torn tail, tidy leftovers
    records.py         what a log record may say (checked before replay applies it)
    state.py           the tables, sequence number and history versions of one moment, and how
                       a log record changes them
    compaction.py      snapshot writing, the manifest swap, purging deletes, the background thread
    snapshot.py        Parquet snapshot and segment files, checksums, manifest, content hash
    importing.py       bulk import: one Parquet segment committed by one log record
    entities.py        users and products: create, read, page, count, delete
    activities.py      activities: add, pages, histories, history versions, product totals
    frames.py          training frames, the data version, exports
    tables.py          in-memory users and products (`EntityTable`) and the store's clock
    activity_table.py  in-memory activities: numpy column chunks, tombstones, pages
    indexes.py         the per-user and per-product indexes of activity rows
    accounts.py        API accounts in their own Parquet file, shared between processes
    files.py           fsync and atomic replacement of files

How writes become durable (engine.py, log.py)
    Every write is one record in an append-only log (`log/*.wal`): 4 bytes of payload length,
    4 bytes of CRC32 over the length and the payload, then the payload (UTF-8 JSON carrying a
    sequence number `s` and the operation). Writers apply the change in memory under a lock,
    queue the record, and wait; one waiter writes every queued record and calls `fdatasync`
    once for all of them (group commit), then acknowledges each. A write that returned is on
    disk. (Another thread may read a write a few milliseconds before it is acknowledged. If
    a log write or fsync fails, the refused bytes are truncated away, the tables are reloaded
    up to the last durable record, so no refused write stays visible, and every later write
    is refused: the log's state is unknown until a restart.) A bulk import writes its rows
    to a Parquet segment (`segments/<seq>.parquet`, fsynced and renamed into place) and then
    commits one log record naming it: all or nothing.

Compaction (compaction.py)
    In the background (and on `close`), the writer captures a consistent picture of the
    tables, starts a new log file, writes a snapshot folder (`snapshots/<seq>/`, files fsynced,
    folder renamed into place), swaps `manifest.json` atomically (temp file, fsync, rename,
    fsync of the folder), and only then deletes the old log files and folded segments. When
    any activity was deleted (or appends filled many chunks) it then also rebuilds the
    in-memory columns without the tombstones, so deleted data leaves memory too. A delete
    also triggers a compaction once it is `DELETE_COMPACT_SECONDS` (60 s) old, so a deleted
    user's external id, attributes and activities leave the disk within about 70 s (plus
    the compaction's own time); a deleted entity's external id and attributes leave memory
    at once.

Recovery (recovery.py)
    Open loads the snapshot the manifest names, checking each file against the size and
    CRC-32 the manifest records (and Parquet page checksums), and replays every log record
    with a higher sequence number, each checked for its meaning (fields, ids, live users and
    products) and imports' segments against the CRC in their record. A damaged record with
    nothing valid after it is a torn tail (a crash mid-write; never acknowledged): it is
    dropped with a warning. A damaged or meaningless record followed by valid ones raises
    `StoreCorruptError` naming the file and byte offset. A log file is named after its first
    record, so a lost log (even an empty one) is noticed: open refuses, changing nothing, and
    says what to restore; so does a snapshot newer than the manifest and log reach. The
    writer then removes what it provably holds elsewhere (older or unpublished snapshots,
    folded segments, half-written files) and moves anything else it does not use to
    `orphans/<time>-*/` with a warning; nothing deletes that folder. Read-only opens take no
    lock, never write, and read again when the manifest changed while they read, so they
    see every write acknowledged before they started.

On-disk layout (the Parquet files are plain tables: pandas, pyarrow, DuckDB and Spark read them)
    LOCK                         the writer's `flock`; holds its pid
    manifest.json                {"seq", "snapshot": "snapshots/<seq>", "next_ids", "version",
                                  "files": {name: {"size", "crc32"}} of the snapshot's files}
    snapshots/<seq>/users.parquet       id int64, created_at timestamp[us, UTC],
                                        external_id string, attributes string (JSON object)
    snapshots/<seq>/products.parquet    the same plus category string
    snapshots/<seq>/activities.parquet  id, user_id, product_id int64, score float64,
                                        timestamp timestamp[us, UTC], type string
                                        (absent in older stores: "score"); ascending id
    snapshots/<seq>/index_*.npy         the per-user index of activities.parquet (internal;
                                        saves sorting 20M rows on open)
    segments/<seq>.parquet       imported activities not yet compacted (same columns)
    log/<first seq>.wal          writes since the snapshot
    orphans/                     files the store did not write, moved aside at open
    impressions/<experiment>/*.parquet  A/B experiments' impressions (`impressions.py`)
    accounts.parquet             username, password_hash, created_at, token_version, account_id
    accounts.lock                `flock` taken while accounts.parquet is rewritten

    A snapshot holds the data up to the manifest's `seq`; the log and segments hold the
    rest, so reading the Parquet files alone gives the state at the last compaction (use
    `discerner export DIR` or `Store.export` for a snapshot of everything).

Accounts live in their own file so that `discerner accounts ...` can change them while the
server holds the writer lock; the server re-reads the file when its `stat` changes.

A second backend keeps the same contract (`StoreContract`) in PostgreSQL, for many server
processes and hosts: `discerner.store.postgres`. `open_store` picks the backend by location.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from discerner.errors import (
    AccountExistsError,
    DuplicateExternalIdError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreReadOnlyError,
)
from discerner.store.accounts import AccountBook, check_username
from discerner.store.contract import StoreContract
from discerner.store.embedded import Store


def open_store(location: str | os.PathLike[str], readonly: bool = False) -> StoreContract:
    """Open the store at `location`: a `postgresql://` URL, else an embedded store's folder.

    Args:
        location: `discerner.config.store_url(home)` gives the configured one.
        readonly: Open for reading only.

    Returns:
        The open store (a context manager).
    """
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg is needed only by the PostgreSQL backend.
        from discerner.store.postgres import PostgresStore

        return PostgresStore.open(location, readonly=readonly)
    return Store.open(location, readonly=readonly)


@contextmanager
def open_accounts(location: str | os.PathLike[str]) -> Iterator[AccountBook]:
    """The API accounts of the store at `location`, usable while a server runs on it.

    An embedded store's accounts live in their own file (`AccountBook`), so they can change
    without the writer's lock; a PostgreSQL store's are a table (the same methods: `create`,
    `get`, `list`, `set_password`, `delete`).
    """
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        from discerner.store.postgres import PostgresStore

        with PostgresStore.open(location, pool_size=1) as store:
            yield store.accounts
        return
    yield AccountBook(Path(location))


__all__ = [
    "AccountBook",
    "AccountExistsError",
    "DuplicateExternalIdError",
    "Store",
    "StoreContract",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreReadOnlyError",
    "check_username",
    "open_accounts",
    "open_store",
]
