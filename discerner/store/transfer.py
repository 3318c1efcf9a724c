"""Copying a whole store between backends (`discerner migrate`): all or nothing, ids kept.

The source is read as one consistent picture (an embedded store's tables under its lock, a
PostgreSQL store's REPEATABLE READ snapshot): users and products with their creation times,
external ids and attributes, every activity with its id, the accounts with their
account_id and token_version, and the next ids, so that ids deleted in the source are not
handed out again. The destination must be empty. An embedded destination is written as a
snapshot in a temporary folder renamed into place; a PostgreSQL destination is loaded in one
transaction. The copy is then opened read-only and its data version (counts and content
hash) compared with the source's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from discerner.errors import StoreError
from discerner.store import accounts as account_files
from discerner.store import frames, open_store
from discerner.store import snapshot as snap
from discerner.store.embedded import Store
from discerner.store.files import fsync_dir
from discerner.store.postgres import PostgresStore, bulk, is_url
from discerner.store.postgres.database import Database, to_datetime
from discerner.store.tables import iso_utc, now_micros, parse_iso_micros


def copy_store(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> dict:
    """Copy the store at `source` into the empty store at `destination` (folders or URLs).

    Returns:
        The data version of the copy (equal to the source's).

    Raises:
        StoreError: The destination holds data, or the copy differs from the source.
    """
    with open_store(source, readonly=True) as store:
        picture, accounts = _picture(store), store.list_accounts()
    expected = frames.version_of(picture)
    if is_url(str(destination)):
        _load_postgres(str(destination), picture, accounts)
    else:
        _write_embedded(Path(destination), picture, accounts)
    with open_store(destination, readonly=True) as copied:
        found = copied.data_version()
    if found != expected:
        raise StoreError(f"the copy differs from the source: {found} != {expected}")
    return found


def _picture(store) -> dict:
    """The embedded store's picture of its tables (`State.capture`), from either backend."""
    if isinstance(store, PostgresStore):
        read = bulk.read_snapshot(store._db, entities=True)
        views = [(read["cols"], np.ones(len(read["cols"]["id"]), bool))]
        return {k: read[k] for k in ("seq", "users", "products", "next_ids")} | {"views": views}
    if isinstance(store, Store):
        with store._engine.lock:
            return store._engine.state.capture()
    raise StoreError(f"cannot copy a {type(store).__name__}")


def _write_embedded(folder: Path, picture: dict, accounts: list[dict]) -> None:
    """Write the picture as a new store folder: a snapshot and its manifest, then rename."""
    if folder.exists() and any(folder.iterdir()):
        raise StoreError(f"{folder} is not empty: migrate into a new folder")
    temp = folder.with_name(f".{folder.name}.migrating")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        for name in ("snapshots", "log", "segments"):
            (temp / name).mkdir(parents=True, mode=0o700)
        name = f"{picture['seq']:020d}"
        _, sums = snap.write_snapshot(
            temp / "snapshots",
            name,
            frames.entity_tables(picture),
            picture["views"],
            snap.snapshot_index(picture["views"]),
        )
        manifest = {
            "format": snap.FORMAT,
            "seq": picture["seq"],
            "snapshot": f"snapshots/{name}",
            "next_ids": picture["next_ids"],
            "version": frames.version_of(picture),
            "created_at": iso_utc(now_micros()),
            "files": sums,
        }
        snap.write_manifest(temp, manifest)
        if accounts:
            path = temp / account_files.ACCOUNTS_FILE
            account_files._write(path, {a["username"]: a for a in accounts})
        for sub in ("log", "segments", ""):
            fsync_dir(temp / sub)
        if folder.exists():
            folder.rmdir()
        os.replace(temp, folder)
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _load_postgres(url: str, picture: dict, accounts: list[dict]) -> None:
    """Load the picture into an empty store database in one transaction."""
    PostgresStore.open(url).close()  # creates or upgrades the tables
    db = Database(url, readonly=False, pool_size=1)
    try:
        with db.writing(counted=False) as conn:
            _check_empty(conn, url)
            for table in ("users", "products"):
                _copy_entities(conn, table, picture[table])
            cols = frames.concat(picture["views"], (*bulk.FIELDS, "type"))
            if len(cols["id"]):
                conn.execute(bulk._DROP_INDEXES)
                bulk._copy_activities(conn, cols, progress=False)
                conn.execute(bulk._CREATE_INDEXES)
            _copy_accounts(conn, accounts)
            for table, next_id in picture["next_ids"].items():
                if next_id > 1:
                    conn.execute("SELECT setval(%s, %s)", (f"{table}_ids", next_id - 1))
            conn.execute("UPDATE write_counts SET writes = %s WHERE shard = 0", (picture["seq"],))
    finally:
        db.close()


def _check_empty(conn: psycopg.Connection, url: str) -> None:
    found = conn.execute(
        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM products)"
        " + (SELECT count(*) FROM activities) + (SELECT count(*) FROM accounts)"
        " + (SELECT sum(writes) FROM write_counts)"
    ).fetchone()[0]
    if found:
        raise StoreError("the destination database is not empty: migrate into a new one")


def _copy_entities(conn: psycopg.Connection, table: str, entities) -> None:
    rows = entities.live_rows().tolist()
    query = f"COPY {table} (id, created_at, external_id, attributes) FROM STDIN"
    with conn.cursor().copy(query) as copy:
        for row in rows:
            attrs = entities.attrs[row]
            copy.write_row(
                (
                    int(entities.ids[row]),
                    to_datetime(entities.created[row]),
                    entities.external[row],
                    Jsonb(attrs) if attrs else None,
                )
            )


def _copy_accounts(conn: psycopg.Connection, accounts: list[dict]) -> None:
    columns = ("username", "password_hash", "created_at", "token_version", "account_id")
    with conn.cursor().copy(f"COPY accounts ({', '.join(columns)}) FROM STDIN") as copy:
        for account in accounts:
            created = to_datetime(parse_iso_micros(account["created_at"]))
            copy.write_row(
                (
                    account["username"],
                    account["password_hash"],
                    created,
                    account["token_version"],
                    account["account_id"],
                )
            )
