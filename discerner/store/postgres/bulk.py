"""Whole-table reads and bulk loads: consistent snapshots in parallel, COPY (binary) imports.

A snapshot runs in one REPEATABLE READ transaction whose snapshot (`pg_export_snapshot`) is
shared by a few worker connections; each reads a range of activity ids as one `bytea` built
on the server (`int8send(id) || … || timestamptz_send(timestamp)` and the type's position in
the snapshot's list of types, 42 bytes a row), which numpy parses in one call. That is several
times faster than COPY TO, which hands Python one message per row. Imports stream binary COPY
rows built with numpy into the table.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg import sql
from tqdm.auto import tqdm

from discerner import schema
from discerner.store import activity_types, frames
from discerner.store import snapshot as snap
from discerner.store.files import replace_atomically
from discerner.store.postgres.database import Database, micros, to_datetime
from discerner.store.tables import EntityTable, now_micros

PG_EPOCH = 946_684_800_000_000  # 2000-01-01T00:00:00Z, PostgreSQL's zero, in Unix microseconds
FIELDS = ("id", "user", "product", "score", "ts")  # the embedded store's numeric columns
NUMBERS = [("id", ">i8"), ("user", ">i8"), ("product", ">i8"), ("score", ">f8"), ("ts", ">i8")]
ROW = np.dtype([*NUMBERS, ("type", ">i2")])
CHUNK_IDS = 1 << 20  # activity ids per worker query (about 40 MB of bytea when dense)
WORKERS = 2
_CHUNK = (
    "SELECT string_agg(int8send(id) || int8send(user_id) || int8send(product_id)"
    " || float8send(score) || timestamptz_send(timestamp)"
    " || int2send(array_position(%s::text[], type)::int2 - 1::int2), '')"
    " FROM activities WHERE id >= %s AND id < %s"
)
# The distinct types, one index probe each (a loose index scan on (type, id)).
_TYPES = (
    "WITH RECURSIVE t(name) AS (SELECT min(type) FROM activities UNION ALL"
    " SELECT (SELECT min(type) FROM activities WHERE type > t.name) FROM t"
    " WHERE t.name IS NOT NULL) SELECT name FROM t WHERE name IS NOT NULL"
)
# The id range of the rows a filter keeps. With min and max alone, PostgreSQL would walk the primary
# key from one end until a row passes the filter: across every older row when the times follow
# the ids. A count(*) beside them makes it scan the filter's index (the time's) instead.
_BOUNDS = "SELECT min(id), max(id), count(*) FROM activities WHERE true"
_IDS = "SELECT string_agg(int8send(id), '' ORDER BY id) FROM {}"
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_ROW = np.dtype(
    [("n", ">i2")]
    + [item for i, kind in enumerate((">i8", ">i8", ">i8", ">f8", ">i8")) for item in
       ((f"l{i}", ">i4"), (f"v{i}", kind))]
)  # fmt: skip
COPY_BATCH = 1 << 20


def read_snapshot(db: Database, entities: bool = False) -> dict:
    """Every activity (and the entity ids, or whole entity rows) as of one moment.

    Returns:
        {"seq": writes committed, "users", "products": id arrays (or `EntityTable`s when
        `entities`, then also "next_ids"), "cols": {id, user, product, score, ts, type}
        numpy columns in id order, ts in Unix microseconds, type `activity_types` codes}.
    """
    with db.snapshot() as conn:
        seq = conn.execute("SELECT sum(writes)::bigint FROM write_counts").fetchone()[0]
        if entities:
            users, products = _entity_table(conn, "users"), _entity_table(conn, "products")
            next_ids = _next_ids(conn)
        else:
            users, products = _ids(conn, "users"), _ids(conn, "products")
        cols = _read_activities(db, conn)
    picture = {"seq": seq, "users": users, "products": products, "cols": cols}
    return picture | ({"next_ids": next_ids} if entities else {})


def read_since(db: Database, since: int, types: list[str] | None = None) -> dict:
    """The activities with timestamp >= `since` (Unix microseconds), of `types` unless None,
    as of one moment: columns as `read_snapshot`'s "cols" (an index range scan on the time).

    Raises:
        ValueError: A type is malformed.
    """
    wanted = None if types is None else set(activity_types.check_all(types))
    with db.snapshot() as conn:
        return _read_activities(db, conn, to_datetime(since), wanted)


def _read_activities(
    db: Database, conn, since: datetime | None = None, types: set[str] | None = None
) -> dict[str, np.ndarray]:
    """The activities (at or after `since`, of `types`) seen by `conn`'s snapshot transaction,
    read in id ranges by `WORKERS` connections sharing that snapshot."""
    token = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
    names = [row[0] for row in conn.execute(_TYPES)]
    where, params = "", []
    if since is not None:
        where, params = " AND timestamp >= %s", [since]
    if types is not None:
        names = [name for name in names if name in types]
        where, params = where + " AND type = ANY(%s::text[])", [*params, names]
    bounds = _BOUNDS + where if where else "SELECT min(id), max(id) FROM activities"
    low, high = conn.execute(bounds, params).fetchone()[:2]
    ranges = [] if low is None else _ranges(low, high)
    query = _CHUNK + where
    with ThreadPoolExecutor(WORKERS) as pool:
        batches = list(
            pool.map(lambda r: _read_range(db, token, r, names, query, params), _split(ranges))
        )
    parts = [part for batch in batches for part in batch]
    del batches  # `_assemble` frees each part once copied: no other reference may keep it
    cols = _assemble(parts)
    cols["type"] = activity_types.codes_of(map(activity_types.check, names))[cols["type"]]
    return cols


def _next_ids(conn) -> dict[str, int]:
    """The id each sequence hands out next (1 when it never handed one out)."""
    query = "SELECT pg_sequence_last_value(%s)"
    return {
        table: (conn.execute(query, (f"{table}_ids",)).fetchone()[0] or 0) + 1
        for table in ("users", "products", "activities")
    }


def _ranges(low: int, high: int) -> list[tuple[int, int]]:
    count = math.ceil((high - low + 1) / CHUNK_IDS)
    return [(low + i * CHUNK_IDS, min(low + (i + 1) * CHUNK_IDS, high + 1)) for i in range(count)]


def _split(ranges: list) -> list[list]:
    """The ranges in WORKERS interleaved lists (neighbouring ranges go to different workers)."""
    return [ranges[i::WORKERS] for i in range(WORKERS)]


def _read_range(
    db: Database, token: str, ranges: list, names: list, query: str, params: list
) -> list[tuple[int, dict]]:
    out = []
    if not ranges:
        return out
    with db.reading() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(token)))
        for start, stop in ranges:
            data = conn.execute(query, (names, start, stop, *params), binary=True).fetchone()[0]
            rows = np.frombuffer(data or b"", ROW)
            out.append(
                (start, {f: rows[f].astype(rows[f].dtype.newbyteorder("=")) for f in ROW.names})
            )
    return out


def _assemble(parts: list[tuple[int, dict]]) -> dict[str, np.ndarray]:
    """Join the ranges' columns in id order into one array per column, times in Unix micros.

    `np.empty` pages are only touched as each part is copied in and freed, so the peak is
    the result plus one part.
    """
    parts.sort(key=lambda part: part[0])
    total = sum(len(cols["id"]) for _, cols in parts)
    out = {f: np.empty(total, ROW[f].newbyteorder("=")) for f in ROW.names}
    position = 0
    while parts:
        _, cols = parts.pop(0)
        n = len(cols["id"])
        for f in ROW.names:
            out[f][position : position + n] = cols[f]
        position += n
        del cols
    out["ts"] += PG_EPOCH
    ids = out["id"]
    if total > 1 and not (ids[1:] > ids[:-1]).all():  # a range was read out of id order
        order = np.argsort(out["id"], kind="stable")
        out = {f: column[order] for f, column in out.items()}
    return out


def _ids(conn, table: str) -> np.ndarray:
    data = conn.execute(sql.SQL(_IDS).format(sql.Identifier(table)), binary=True).fetchone()[0]
    return np.frombuffer(data or b"", ">i8").astype(np.int64)


def _entity_table(conn, table: str) -> EntityTable:
    query = sql.SQL("SELECT id, created_at, external_id, attributes FROM {} ORDER BY id")
    rows = conn.execute(query.format(sql.Identifier(table))).fetchall()
    entities = EntityTable()
    entities.load(
        [r[0] for r in rows],
        [micros(r[1]) for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    return entities


def version_of(picture: dict) -> dict:
    """The data version of a snapshot, with the embedded store's content hash."""
    users, products = picture["users"], picture["products"]
    if isinstance(users, EntityTable):
        users, products = users.ids[: users.n], products.ids[: products.n]
    cols = picture["cols"]
    views = [(cols, np.ones(len(cols["id"]), bool))]
    return {
        "version": int(picture["seq"]),
        "users": len(users),
        "products": len(products),
        "activities": len(cols["id"]),
        "hash": snap.content_hash(users, products, views),
    }


def export(picture: dict, directory: str | os.PathLike[str]) -> dict:
    """Write a snapshot as the embedded store's Parquet files plus version.json."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    version = version_of(picture)
    tables = frames.entity_tables({"users": picture["users"], "products": picture["products"]})
    for name, table in tables.items():
        replace_atomically(
            folder / f"{name}.parquet", lambda t, tb=table: frames.write_table(tb, t)
        )
    views = [(picture["cols"], np.ones(len(picture["cols"]["id"]), bool))]
    replace_atomically(
        folder / "activities.parquet",
        lambda t: snap.write_activities(t, snap.activity_batches(views)),
    )
    (folder / "version.json").write_text(json.dumps(version, indent=1))
    return version | {
        "files": [str(folder / f"{n}.parquet") for n in ("users", "products", "activities")]
    }


def import_interactions(db: Database, frame: pd.DataFrame, progress: bool) -> dict:
    """Bulk-load interactions in one transaction (see `StoreContract.import_interactions`)."""
    frame = schema.validate_interactions(frame)
    if frame.empty:
        return {"activities": 0, "users_created": 0, "products_created": 0, "version": _seq(db)}
    now = now_micros()
    cols = {
        "user": frame[schema.USER_ID].to_numpy(np.int64),
        "product": frame[schema.PRODUCT_ID].to_numpy(np.int64),
        "score": frame[schema.SCORE].to_numpy(np.float64),
        "ts": pd.DatetimeIndex(frame[schema.TIMESTAMP]).as_unit("us").asi8.copy(),
    }
    cols["ts"][cols["ts"] == np.iinfo(np.int64).min] = now
    cols["type"] = activity_types.from_frame(frame)
    with db.writing(products=True, cascade=True) as conn:
        created = {
            kind: _create_missing(conn, kind, np.unique(cols[kind[:-1]]), to_datetime(now))
            for kind in ("users", "products")
        }
        taken = conn.execute("SELECT discerner_take_ids('activities_ids', %s)", (len(frame),))
        first = taken.fetchone()[0]
        cols["id"] = np.arange(first, first + len(frame), dtype=np.int64)
        if _rebuild_indexes(conn, len(frame)):
            conn.execute(_DROP_INDEXES)
            _copy_activities(conn, cols, progress)
            conn.execute(_CREATE_INDEXES)
        else:
            _copy_activities(conn, cols, progress)
    return {
        "activities": len(frame),
        "users_created": created["users"],
        "products_created": created["products"],
        "version": _seq(db),
    }


# The activities' indexes as migrations 0001, 0003 and 0005 create them. COPY into indexed
# columns inserts into each btree at random places, about 4 us a row per index here; building
# an index afterwards sorts, ten times faster. Dropping them locks the table until the COMMIT,
# so only imports at least as big as the table (typically the first) do it.
_DROP_INDEXES = (
    "DROP INDEX activities_user_id, activities_product_id, activities_type,"
    " activities_timestamp;"
    " ALTER TABLE activities DROP CONSTRAINT activities_pkey"
)
_CREATE_INDEXES = (
    "SET LOCAL maintenance_work_mem = '512MB';"
    " ALTER TABLE activities ADD PRIMARY KEY (id);"
    " CREATE INDEX activities_user_id ON activities (user_id, id);"
    " CREATE INDEX activities_product_id ON activities (product_id, id);"
    " CREATE INDEX activities_type ON activities (type, id);"
    " CREATE INDEX activities_timestamp ON activities (timestamp)"
)
REBUILD_ROWS = 500_000


def _rebuild_indexes(conn, rows: int) -> bool:
    """Whether an import of `rows` rows should drop and rebuild the activities' indexes."""
    if rows < REBUILD_ROWS:
        return False
    estimate = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'activities'::regclass")
    return rows >= estimate.fetchone()[0]


def _create_missing(conn, table: str, ids: np.ndarray, created) -> int:
    """Lock the entities that exist, create the others; returns how many were created."""
    name = sql.Identifier(table)
    history = sql.SQL(", history_version" if table == "users" else "")
    fresh = sql.SQL(", nextval('history_versions')" if table == "users" else "")
    ids_list = ids.tolist()
    conn.execute(
        sql.SQL("SELECT id FROM {} WHERE id = ANY(%s) FOR KEY SHARE").format(name), (ids_list,)
    )
    inserted = conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, created_at{}) SELECT i, %s{} FROM unnest(%s::bigint[]) AS i"
            " ON CONFLICT (id) DO NOTHING RETURNING id"
        ).format(name, history, fresh),
        (created, ids_list),
    ).fetchall()
    conn.execute("SELECT discerner_raise_ids(%s, %s)", (f"{table}_ids", int(ids.max())))
    return len(inserted)


def _copy_activities(conn, cols: dict, progress: bool) -> None:
    """COPY rows of numpy columns, one run per type (fixed-width rows within a run).

    Each run keeps id order, so an id range of the table stays a few contiguous runs of pages.
    """
    kinds, n = cols["type"], len(cols["id"])
    codes = np.unique(kinds).tolist()
    columns = "id, user_id, product_id, score, timestamp, type"
    query = f"COPY activities ({columns}) FROM STDIN (FORMAT BINARY)"
    with (
        conn.cursor().copy(query) as copy,
        tqdm(total=n, unit="row", desc="import", disable=not progress) as bar,
    ):
        copy.write(COPY_HEADER)
        for code in codes:
            rows = np.flatnonzero(kinds == code) if len(codes) > 1 else None  # None: all
            name = activity_types.name(code).encode()
            layout = np.dtype([*COPY_ROW.descr, ("l5", ">i4"), ("v5", f"S{len(name)}")])
            for start in range(0, n if rows is None else len(rows), COPY_BATCH):
                picked = slice(start, start + COPY_BATCH)
                picked = picked if rows is None else rows[picked]
                batch = np.empty(len(cols["id"][picked]), layout)
                batch["n"] = len(FIELDS) + 1
                for i, field in enumerate(FIELDS):
                    batch[f"l{i}"] = 8
                    values = cols[field][picked]
                    batch[f"v{i}"] = values - PG_EPOCH if field == "ts" else values
                batch["l5"], batch["v5"] = len(name), name
                copy.write(batch.tobytes())
                bar.update(len(batch))
        copy.write(b"\xff\xff")


def _seq(db: Database) -> int:
    with db.reading() as conn:
        return conn.execute("SELECT sum(writes)::bigint FROM write_counts").fetchone()[0]
