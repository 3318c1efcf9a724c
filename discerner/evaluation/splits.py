"""Seeded train/test splits of interactions frames; pure functions that never mutate input."""

from __future__ import annotations

import numpy as np
import pandas as pd

from discerner.schema import TIMESTAMP, USER_ID


def random_split(
    frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random fraction of each user's rows.

    Each user with c rows gets round(test_fraction * c) rows (halves round up) chosen uniformly
    at random into the test part; every other row is training. Users with one row keep it in
    training when the fraction rounds to zero.

    Args:
        frame: Interactions with `user_id`.
        test_fraction: Share of each user's rows held out, in [0, 1].
        seed: Seed of the random choice; the same seed gives the same split.

    Returns:
        (train, test): frames with the input's columns and original index, rows in input order.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    rng = np.random.default_rng(seed)
    keys = rng.random(len(frame))
    position, counts = _positions(frame[USER_ID].to_numpy(), keys)
    held = position < np.floor(test_fraction * counts + 0.5)
    return frame[~held], frame[held]


def temporal_split(frame: pd.DataFrame, n_last: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's `n_last` most recent rows (ties: the later row is more recent).

    A user with at most `n_last` rows keeps one row in training so it can still be scored.

    Args:
        frame: Interactions with `user_id` and `timestamp`.
        n_last: Rows per user to hold out.

    Returns:
        (train, test): frames with the input's columns and index, rows in input order.
    """
    times = pd.to_datetime(frame[TIMESTAMP], utc=True).to_numpy(dtype="datetime64[us]")
    ascending = np.empty(len(frame), dtype=np.float64)
    ascending[np.lexsort((np.arange(len(frame)), times.astype(np.int64)))] = np.arange(len(frame))
    # Position 0 is the most recent row.
    keys = -ascending
    position, counts = _positions(frame[USER_ID].to_numpy(), keys)
    held = (position < n_last) & (position < counts - 1)
    return frame[~held], frame[held]


def user_split(
    frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out whole users: all rows of round(test_fraction * n_users) random users go to test.

    Evaluate such a split by folding in part of each test user's rows as `history` (for
    example `random_split(test)`) and scoring the rest: it measures cold-start fold-in.

    Args:
        frame: Interactions with `user_id`.
        test_fraction: Share of users held out.
        seed: Seed of the random choice.

    Returns:
        (train, test): frames with the input's columns and index; no user is in both.
    """
    users = np.unique(frame[USER_ID].to_numpy())
    rng = np.random.default_rng(seed)
    n_test = int(np.floor(test_fraction * len(users) + 0.5))
    held_users = rng.choice(users, size=n_test, replace=False)
    held = frame[USER_ID].isin(held_users).to_numpy()
    return frame[~held], frame[held]


def _positions(users: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's rank by `keys` within its user (0 = smallest key) and its user's row count."""
    order = np.lexsort((keys, users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(sorted_users[1:] != sorted_users[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    position = np.empty(len(users), dtype=np.int64)
    position[order] = np.arange(len(users)) - np.repeat(starts, counts)
    row_counts = np.empty(len(users), dtype=np.int64)
    row_counts[order] = np.repeat(counts, counts)
    return position, row_counts
