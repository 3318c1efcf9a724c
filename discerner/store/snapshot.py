"""Parquet snapshot and import-segment files, their checksums, the manifest, the content hash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from discerner.errors import StoreCorruptError
from discerner.store import activity_types
from discerner.store.activity_table import ACTIVITY_DTYPES, ACTIVITY_FIELDS
from discerner.store.files import fsync_dir, fsync_file, write_bytes_atomically
from discerner.store.indexes import UserIndexPart
from discerner.store.tables import EntityTable

MANIFEST = "manifest.json"
FORMAT = 1
TIME = pa.timestamp("us", tz="UTC")
ACTIVITY_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_id", pa.int64()),
        ("product_id", pa.int64()),
        ("score", pa.float64()),
        ("timestamp", TIME),
        ("type", pa.string()),  # absent in files of older versions: every type is "score"
    ]
)
_COLUMN_OF = dict(zip(ACTIVITY_FIELDS, ACTIVITY_SCHEMA.names, strict=True))
_NUMBERS = ACTIVITY_FIELDS[:5]  # the columns that are numbers in files too
ROW_GROUP = 1 << 20
SNAPSHOT_FILES = ("users.parquet", "products.parquet", "activities.parquet", *UserIndexPart.FILES)
SNAPSHOT_NAME = re.compile(r"\d{20}")
SEGMENT_NAME = re.compile(r"\d{20}\.parquet")
# Folders and files a crash left half-written: a compaction's `.<seq>.tmp` snapshot folder, and
# `replace_atomically`'s `.<name>.<pid>.tmp` segment. Never renamed into place, never needed.
PARTIAL_NAME = re.compile(r"\..+\.tmp")
_READ_BLOCK = 1 << 22


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a store folder, or None when it has never been compacted.

    Raises:
        ValueError: The manifest is not JSON, or lacks what opening the store needs.
    """
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    _check_manifest(manifest)
    return manifest


def _check_manifest(manifest: object) -> None:
    seq = manifest.get("seq") if isinstance(manifest, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("the manifest has no sequence number 'seq'")
    if manifest.get("snapshot") != f"snapshots/{seq:020d}":  # never a path out of the store
        raise ValueError(f"the manifest names snapshot {manifest.get('snapshot')!r}")
    next_ids = manifest.get("next_ids")
    if not isinstance(next_ids, dict) or not all(
        isinstance(next_ids.get(k), int) for k in ("users", "products", "activities")
    ):
        raise ValueError("the manifest has no next ids of users, products and activities")
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(f, dict) and isinstance(f.get("size"), int) and isinstance(f.get("crc32"), str)
        for f in files.values()
    ):
        raise ValueError("the manifest's file checksums are malformed")


def write_manifest(folder: Path, manifest: dict) -> None:
    """Swap in a new manifest atomically and durably."""
    write_bytes_atomically(folder / MANIFEST, json.dumps(manifest, indent=1).encode())


def checksum(path: Path) -> dict:
    """{"size", "crc32"} of a file: CRC-32 detects every burst of up to 32 flipped bits.

    CRC-32 rather than a cryptographic hash: it guards against damage, not tampering, and runs
    at about 1.7 GB/s here, a small share of the time to parse the same bytes.
    """
    crc, size = 0, 0
    with open(path, "rb") as handle:
        while block := handle.read(_READ_BLOCK):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return {"size": size, "crc32": f"{crc:08x}"}


def verify(path: Path, expected: dict) -> None:
    """Check a file against the checksum recorded when it was written.

    Raises:
        StoreCorruptError: The file's size or CRC differs; names the file.
    """
    found = checksum(path)
    if found != {"size": expected["size"], "crc32": expected["crc32"]}:
        raise StoreCorruptError(
            f"the file is damaged: it has {found['size']} bytes of CRC-32 {found['crc32']},"
            f" it was written as {expected['size']} bytes of CRC-32 {expected['crc32']};"
            " restore it from a backup",
            path=str(path),
        )


def activity_batches(views, rows_per_batch: int = ROW_GROUP):
    """Yield Arrow record batches of the live rows of activity chunk views."""
    for cols, alive in views:
        for start in range(0, len(alive), rows_per_batch):
            keep = alive[start : start + rows_per_batch]
            arrays = [cols[f][start : start + rows_per_batch][keep] for f in _NUMBERS]
            arrays[-1] = arrays[-1].view("datetime64[us]")
            columns = [
                pa.array(a, type=t) for a, t in zip(arrays, ACTIVITY_SCHEMA.types[:5], strict=True)
            ]
            kinds = cols["type"][start : start + rows_per_batch][keep]
            columns.append(activity_types.to_arrow(kinds))
            yield pa.RecordBatch.from_arrays(columns, schema=ACTIVITY_SCHEMA)


def write_activities(path: Path, batches) -> int:
    """Write activity batches to one Parquet file (fsynced); returns the row count."""
    rows = 0
    # Dictionary-encode only the columns that repeat: ids and times never do, and trying
    # costs half the writing time.
    dictionary = ["user_id", "product_id", "score", "type"]
    with pq.ParquetWriter(
        path, ACTIVITY_SCHEMA, use_dictionary=dictionary, write_page_checksum=True
    ) as writer:
        for batch in batches:
            writer.write_batch(batch, row_group_size=ROW_GROUP)
            rows += batch.num_rows
    fsync_file(path)
    return rows


def read_activities(path: Path) -> dict[str, np.ndarray]:
    """Read an activities Parquet file into numpy columns ("type" as `activity_types` codes).

    Row group by row group into preallocated arrays, so the peak memory is the arrays plus one
    row group, whatever the file's size. A file without a type column (written by an older
    version) reads as all "score".

    Raises:
        ValueError: A type in the file is missing or invalid.
    """
    typed = "type" in pq.read_schema(path).names
    dictionary = ["type"] if typed else None  # types as codes per distinct name: fast
    source = pq.ParquetFile(path, page_checksum_verification=True, read_dictionary=dictionary)
    n = source.metadata.num_rows
    out = {f: np.empty(n, ACTIVITY_DTYPES[f]) for f in ACTIVITY_FIELDS}
    position = 0
    for group in range(source.num_row_groups):
        table = source.read_row_group(group)
        rows = table.num_rows
        for field in _NUMBERS:
            values = table.column(_COLUMN_OF[field])
            if field == "ts":
                values = values.cast(pa.int64())
            out[field][position : position + rows] = values.to_numpy()
        kinds = table.column("type") if typed else None
        out["type"][position : position + rows] = activity_types.from_arrow(kinds, rows)
        position += rows
    return out


def entity_table(table: EntityTable, rows: np.ndarray, category: bool) -> pa.Table:
    """Arrow table of entity rows: id, created_at, external_id, [category], attributes."""
    attrs = [table.attrs[r] for r in rows.tolist()]
    columns = {
        "id": pa.array(table.ids[rows], pa.int64()),
        "created_at": pa.array(table.created[rows].view("datetime64[us]"), TIME),
        "external_id": pa.array([table.external[r] for r in rows.tolist()], pa.string()),
    }
    if category:
        columns["category"] = pa.array([_category(a) for a in attrs], pa.string())
    columns["attributes"] = pa.array([json.dumps(a) if a else None for a in attrs], pa.string())
    return pa.table(columns)


def _category(attrs: dict | None) -> str | None:
    value = (attrs or {}).get("category")
    return None if value is None else str(value)


def load_entities(path: Path, table: EntityTable) -> None:
    """Fill an entity table from its snapshot file."""
    data = pq.read_table(path, page_checksum_verification=True)
    attrs = [json.loads(a) if a else None for a in data.column("attributes").to_pylist()]
    table.load(
        data.column("id").to_numpy(),
        data.column("created_at").cast(pa.int64()).to_numpy(),
        data.column("external_id").to_pylist(),
        attrs,
    )


def write_snapshot(
    folder: Path, name: str, tables: dict, views, index: UserIndexPart
) -> tuple[Path, dict]:
    """Write users, products and activities Parquet files into a new snapshot folder.

    The files go to a temporary folder that is renamed into place once every file is durable.

    Args:
        folder: The store's `snapshots` folder.
        name: The new snapshot's folder name.
        tables: {"users": pa.Table, "products": pa.Table}.
        views: Activity chunk views (see `ActivityTable.views`).
        index: The per-user index of the snapshot's activities (rows numbered from 0).

    Returns:
        (the snapshot folder, {file name: its `checksum`} for the manifest).
    """
    temp = folder / f".{name}.tmp"
    temp.mkdir(parents=True, exist_ok=True)
    for table_name, table in tables.items():
        pq.write_table(table, temp / f"{table_name}.parquet", write_page_checksum=True)
        fsync_file(temp / f"{table_name}.parquet")
    write_activities(temp / "activities.parquet", activity_batches(views))
    index.save(temp)
    # Read back from the page cache just written: about 1/4 s for 20M activities.
    sums = {file: checksum(temp / file) for file in SNAPSHOT_FILES}
    fsync_dir(temp)
    final = folder / name
    os.replace(temp, final)
    fsync_dir(folder)
    return final, sums


def leftovers(store: Path, manifest: dict | None, seq: int, segments: set[str]) -> dict:
    """Sort what the manifest and the log do not use in `snapshots/` and `segments/`.

    Args:
        store: The store folder.
        manifest: The manifest the store was opened with.
        seq: The last record the manifest's snapshot and the log hold.
        segments: Names of the segments the log's imports use.

    Returns:
        {"redundant": paths whose data the store provably holds (older or unpublished
        snapshots up to `seq`, segments folded into the manifest's snapshot, half-written
        files), "newer": snapshot folders past `seq` (the store lacks their data),
        "unknown": anything else (not the store's, or an import the log does not name)}.
    """
    current = manifest["snapshot"].split("/")[-1] if manifest else None
    folded = manifest["seq"] if manifest else 0
    found: dict[str, list[Path]] = {"redundant": [], "newer": [], "unknown": []}
    for path in sorted((store / "snapshots").iterdir()):
        if path.name == current:
            continue
        if SNAPSHOT_NAME.fullmatch(path.name):
            found["redundant" if int(path.name) <= seq else "newer"].append(path)
        else:
            found["redundant" if PARTIAL_NAME.fullmatch(path.name) else "unknown"].append(path)
    for path in sorted((store / "segments").iterdir()):
        if path.name in segments:
            continue
        named = SEGMENT_NAME.fullmatch(path.name)
        folded_in = named and int(path.name[:20]) <= folded
        partial = PARTIAL_NAME.fullmatch(path.name)
        found["redundant" if folded_in or partial else "unknown"].append(path)
    return found


def snapshot_index(views) -> UserIndexPart:
    """The per-user index of the live rows of activity views, numbered as a snapshot stores them."""
    pieces = [cols["user"][alive] for cols, alive in views if alive.any()]
    small = all(p.min() >= 0 and p.max() < np.iinfo(np.int32).max for p in pieces)
    # Narrow each piece before joining them: the index of 20M rows then needs 80 MB less.
    users = np.concatenate([p.astype(np.int32 if small else np.int64) for p in pieces] or [[]])
    return UserIndexPart.build(users.astype(np.int32 if small else np.int64, copy=False), 0)


def release_memory() -> None:
    """Hand memory Arrow keeps for reuse back to the system (after big reads and writes)."""
    pa.default_memory_pool().release_unused()


def content_hash(users: np.ndarray, products: np.ndarray, views) -> str:
    """A hash of the live content: user ids, product ids and every activity column.

    Independent of how rows are chunked, so the same data always hashes the same (types are
    hashed by name, not by their process-local codes).
    """
    hashers = {f: hashlib.blake2b(digest_size=16) for f in ACTIVITY_FIELDS}
    for cols, alive in views:
        for start in range(0, len(alive), ROW_GROUP):  # in slices: little extra memory
            keep = alive[start : start + ROW_GROUP]
            for f in ACTIVITY_FIELDS:
                values = cols[f][start : start + ROW_GROUP][keep]
                if f == "type":
                    values = activity_types.stable_hashes(values)
                hashers[f].update(np.ascontiguousarray(values).data)
    total = hashlib.blake2b(digest_size=16)
    total.update(np.ascontiguousarray(users, np.int64).data)
    total.update(b"|")
    total.update(np.ascontiguousarray(products, np.int64).data)
    for f in ACTIVITY_FIELDS:
        total.update(hashers[f].digest())
    return total.hexdigest()
