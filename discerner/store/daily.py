"""Activities per UTC day, counted the cheap way on each backend (a dashboard's growth chart).

The embedded store counts over its in-memory time column (one numpy pass, no copy of the rows);
PostgreSQL groups in the database (one sequential scan of `activities` that returns one row per
day). Both answer `StoreContract.activities_per_day`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from discerner.store import values

if TYPE_CHECKING:
    from discerner.store.postgres.database import Database

MICROS_PER_DAY = 86_400 * 1_000_000
_PER_DAY = (
    "SELECT (timestamp AT TIME ZONE 'UTC')::date AS day, count(*) FROM activities"
    " WHERE timestamp >= %s GROUP BY day ORDER BY day"
)


def first_day(since: object) -> int:
    """The UTC day (days since 1970-01-01) holding `since`, a time as `add_activity` takes it.

    Raises:
        ValueError: `since` is not a time.
    """
    return values.timestamp(since) // MICROS_PER_DAY


def day_text(day: int) -> str:
    """A day number as `YYYY-MM-DD`."""
    return str(np.datetime64(day, "D"))


def count_views(views: list[tuple[dict[str, np.ndarray], np.ndarray]], since: object) -> dict:
    """Live activities per UTC day of the embedded store's views, from `since`'s day on.

    Args:
        views: `ActivityTable.views()`: (columns, alive mask) per chunk.
        since: The first day's time.

    Returns:
        {"YYYY-MM-DD": count}, ascending; days without activities are absent.
    """
    first = first_day(since)
    totals: dict[int, int] = {}
    for cols, alive in views:
        days = cols["ts"][alive] // MICROS_PER_DAY  # numpy floors: days before 1970 are negative
        found, counts = np.unique(days[days >= first], return_counts=True)
        for day, count in zip(found.tolist(), counts.tolist(), strict=True):
            totals[day] = totals.get(day, 0) + count
    return {day_text(day): totals[day] for day in sorted(totals)}


def count_database(db: Database, since: object) -> dict:
    """Activities per UTC day in a PostgreSQL store, from `since`'s day on (as `count_views`)."""
    from discerner.store.postgres.database import to_datetime

    start = to_datetime(first_day(since) * MICROS_PER_DAY)
    with db.reading() as conn:
        rows = conn.execute(_PER_DAY, (start,)).fetchall()
    return {day.isoformat(): count for day, count in rows}
