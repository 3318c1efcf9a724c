"""Impressions of A/B experiments in the embedded store: append-only Parquet files.

Each `append` writes one Parquet file `impressions/<experiment>/<time ns>-<pid>-<n>.parquet`
(temp file, fsync, rename, fsync of the folder): a file is there whole or not at all, and
pandas, DuckDB and Spark read `impressions/*/*.parquet` without Discerner. Columns: request_id,
experiment, variant, version (string), user_id (int64), product_ids (list of int64, best
first: rank = position + 1), time (timestamp[us, UTC]). The server appends about once a second
while an experiment runs, so a day adds up to 86,400 small files; nothing merges them yet.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from discerner.store.files import fsync_dir, fsync_file

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


def to_table(rows: list[dict]) -> pa.Table:
    """Impression dicts (`COLUMNS`; `time` a datetime) as an Arrow table."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An impressions table as pandas: product_ids a list per row, time UTC."""
    frame = table.select(COLUMNS).to_pandas()
    frame["product_ids"] = frame["product_ids"].map(list)
    return frame


class ImpressionLog:
    """The impressions of one embedded store, in `folder` (created on the first append)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._count = itertools.count()

    def append(self, rows: list[dict]) -> None:
        """Write impressions durably, one file per experiment present in `rows`."""
        for experiment, group in itertools.groupby(
            sorted(rows, key=lambda r: r["experiment"]), key=lambda r: r["experiment"]
        ):
            folder = self.folder / experiment
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns()}-{os.getpid()}-{next(self._count)}.parquet"
            temp = folder / f".{name}.tmp"
            pq.write_table(to_table(list(group)), temp)
            fsync_file(temp)
            temp.rename(folder / name)
            fsync_dir(folder)

    def read(self, experiment: str) -> pd.DataFrame:
        """Every impression of `experiment`, oldest file first (empty frame when none)."""
        folder = self.folder / experiment
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        tables = [pq.read_table(path, schema=SCHEMA) for path in files]
        return to_frame(pa.concat_tables(tables) if tables else SCHEMA.empty_table())
