"""Per-user and per-product indexes of activity rows: sorted parts, merged like a binary counter.

A part maps each key (a user, or a product) to the global row numbers of its activities. A table
keeps a few parts of very different sizes (`with_part`), so adding rows costs O(log n) amortised
and a look-up is one binary search per part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class UserIndexPart:
    """Sorted user ids of some rows, with the global row numbers of each user's activities.

    `rows[bounds[i]:bounds[i + 1]]` are the rows of user `users[i]`. Row numbers are int32
    when they fit, halving the index of a large store.
    """

    users: np.ndarray
    bounds: np.ndarray
    rows: np.ndarray

    FILES = ("index_users.npy", "index_bounds.npy", "index_rows.npy")

    @classmethod
    def build(cls, users: np.ndarray, rows: np.ndarray | int) -> UserIndexPart:
        """Index rows by their `users`.

        Args:
            users: The user of each row.
            rows: The rows' global numbers, or an int: the first of consecutive numbers.
        """
        if len(users) == 0:
            return cls(np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int32))
        keys = _narrow(users)  # int32 keys when they fit: half the memory, faster sort
        order = cls._order(keys)
        ordered = keys[order]
        firsts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        bounds = np.concatenate([[0], firsts, [len(ordered)]]).astype(np.int64)
        if isinstance(rows, int):
            order += rows
            picked = order
        else:
            picked = rows[order]
        del order
        return cls(ordered[bounds[:-1]].astype(np.int64), bounds, _narrow(picked))

    @staticmethod
    def _order(keys: np.ndarray) -> np.ndarray:
        return np.argsort(keys)

    @classmethod
    def merge(cls, parts: list[UserIndexPart]) -> UserIndexPart:
        """One part indexing the rows of all `parts`."""
        users = np.concatenate([np.repeat(p.users, np.diff(p.bounds)) for p in parts])
        return cls.build(users, np.concatenate([p.rows.astype(np.int64) for p in parts]))

    def save(self, folder: Path) -> None:
        """Write the part as .npy files (fsynced) into `folder`."""
        for name, array in zip(self.FILES, (self.users, self.bounds, self.rows), strict=True):
            with open(folder / name, "wb") as handle:
                np.save(handle, array)
                handle.flush()
                os.fsync(handle.fileno())

    @classmethod
    def load(cls, folder: Path) -> UserIndexPart | None:
        """The part saved in `folder` (memory-mapped), or None when there is none."""
        if not all((folder / name).exists() for name in cls.FILES):
            return None
        return cls(*(np.load(folder / name, mmap_mode="r") for name in cls.FILES))

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, user: int) -> np.ndarray:
        i = int(np.searchsorted(self.users, user))
        if i == len(self.users) or self.users[i] != user:
            return self.rows[:0]
        return self.rows[self.bounds[i] : self.bounds[i + 1]]


class ProductIndexPart(UserIndexPart):
    """The same index keyed by product (`users` holds product ids), each product's rows ascending.

    Rows ascend with ids, so a keyset page of a product is a binary search in each part's
    slice of that product, then a page of rows: O(log n + page). A stable sort keeps each
    product's rows in order; `merge` joins parts oldest first, so it keeps them too.
    """

    @staticmethod
    def _order(keys: np.ndarray) -> np.ndarray:
        # numpy sorts 16-bit keys by radix, several times faster than int32 on 20M rows.
        small = len(keys) and keys.min() >= 0 and keys.max() <= np.iinfo(np.uint16).max
        return np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")

    def after(self, product: int, row: int, count: int) -> tuple[np.ndarray, bool]:
        """Up to `count` of the product's rows from `row` on, and whether more follow."""
        rows = self.lookup(product)
        start = int(np.searchsorted(rows, row))
        return rows[start : start + count], len(rows) - start > count


def with_part(parts: list, part: UserIndexPart) -> list:
    """`parts` plus `part`, merging the newest while they are of similar size.

    Like a binary counter, this keeps O(log n) parts at an amortised O(log n) per row.
    """
    parts = [*parts, part]
    while len(parts) >= 2 and len(parts[-2]) <= 2 * len(parts[-1]):
        parts[-2:] = [type(part).merge(parts[-2:])]
    return parts


def _narrow(values: np.ndarray) -> np.ndarray:
    """int32 copy of non-negative int64 values when they all fit, else the values."""
    if len(values) and values.min() >= 0 and values.max() < np.iinfo(np.int32).max:
        return values.astype(np.int32)
    return values
