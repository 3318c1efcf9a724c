"""Impressions of A/B experiments in PostgreSQL: the `impressions` table (migration 0004)."""

from __future__ import annotations

import pandas as pd

from discerner.store import impressions
from discerner.store.postgres.database import Database

INSERT = (
    "INSERT INTO impressions (request_id, experiment, variant, version, user_id, product_ids,"
    " time) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
SELECT = (
    "SELECT request_id, experiment, variant, version, user_id, product_ids, time"
    " FROM impressions WHERE experiment = %s ORDER BY id"
)


def append(db: Database, rows: list[dict]) -> None:
    """Insert impressions in one transaction (not counted as a data change)."""
    values = [tuple(row[c] for c in impressions.COLUMNS) for row in rows]
    with db.writing(counted=False) as conn, conn.cursor() as cursor:
        cursor.executemany(INSERT, values)


def read(db: Database, experiment: str) -> pd.DataFrame:
    """Every impression of `experiment`, in insertion order."""
    with db.reading() as conn:
        found = conn.execute(SELECT, (experiment,)).fetchall()
    rows = [dict(zip(impressions.COLUMNS, row, strict=True)) for row in found]
    return impressions.to_frame(impressions.to_table(rows))
