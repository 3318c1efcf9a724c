"""Activity types as small integer codes: interned once per process, the same in every store.

An activity's type is text (`discerner.schema.TYPE_RULE`), but a store of 20M activities holds
only a handful of distinct types, so its columns keep an int16 code per row and this module
the names. The codes are process-wide (code 0 is always "score"), so a column read from any
store, snapshot or database turns back into names without carrying a table of its own.
Files and the database hold the names, never the codes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from discerner.schema import DEFAULT_TYPE, TYPE, TYPE_PATTERN, TYPE_RULE

DTYPE = np.int16
MAX_TYPES = int(np.iinfo(DTYPE).max)  # distinct names per process
DEFAULT_CODE = 0

_names: list[str] = [DEFAULT_TYPE]
_codes: dict[str, int] = {DEFAULT_TYPE: DEFAULT_CODE}
_hashes: list[int] = []  # a stable 64-bit hash per name, in code order (filled on demand)
_lock = threading.Lock()


def check(value: object) -> str:
    """An activity type as given by a caller: None is "score"; ValueError unless valid."""
    if value is None:
        return DEFAULT_TYPE
    if not isinstance(value, str) or TYPE_PATTERN.fullmatch(value) is None:
        raise ValueError(f"type must be {TYPE_RULE}, got {value!r}")
    return value


def check_all(values: Iterable[str]) -> list[str]:
    """A list of activity types as given by a caller, each checked as `check` does.

    Raises:
        ValueError: `values` is one string rather than a list, or a name is not valid.
    """
    if isinstance(values, str):
        raise ValueError(f"types must be a list of activity types, got {values!r}")
    return [check(value) for value in values]


def code(name: str) -> int:
    """The code of a (checked) type name, new names getting the next code.

    Raises:
        ValueError: The process already holds `MAX_TYPES` distinct names.
    """
    found = _codes.get(name)
    if found is not None:
        return found
    with _lock:
        if name not in _codes:
            if len(_names) >= MAX_TYPES:
                raise ValueError(f"at most {MAX_TYPES} distinct activity types")
            _names.append(name)
            _codes[name] = len(_names) - 1
        return _codes[name]


def find(name: str) -> int | None:
    """The code of a type name, or None when no store of this process has seen it (reads
    never add names, so asking for many unknown types fills nothing)."""
    return _codes.get(name)


def codes_of(names: Iterable[str]) -> np.ndarray:
    """The codes of `names`, in order (a look-up table for a column's own dictionary)."""
    return np.fromiter((code(n) for n in names), DTYPE)


def name(value: int) -> str:
    """The name of one code."""
    return _names[value]


def names(values: np.ndarray) -> np.ndarray:
    """The names of a column of codes, as a numpy array of str."""
    return np.asarray(_names, dtype=str)[values]


def to_arrow(values: np.ndarray) -> pa.Array:
    """A column of codes as an Arrow string array (how files hold types)."""
    return pa.array(_names, pa.string()).take(pa.array(values, pa.int16()))


def from_arrow(column: pa.ChunkedArray | pa.Array | None, rows: int) -> np.ndarray:
    """Codes of an Arrow string column; None (a file of an older version) is all "score".

    Raises:
        ValueError: A value is missing or not a valid type.
    """
    if column is None:
        return np.zeros(rows, DTYPE)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return np.concatenate([_chunk_codes(chunk) for chunk in chunks] or [np.empty(0, DTYPE)])


def _chunk_codes(chunk: pa.Array) -> np.ndarray:
    if chunk.null_count:
        raise ValueError("an activity's type is missing (null)")
    if not pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_encode()
    lookup = codes_of(check(n) for n in chunk.dictionary.to_pylist())
    return lookup[chunk.indices.to_numpy(zero_copy_only=False)]


def from_frame(frame: pd.DataFrame) -> np.ndarray:
    """Codes of a validated interactions frame's `type` column (all "score" without one)."""
    if TYPE not in frame.columns:
        return np.zeros(len(frame), DTYPE)
    column = frame[TYPE].astype("category")
    lookup = codes_of(check(n) for n in column.cat.categories)
    return lookup[column.cat.codes.to_numpy()]


def stable_hashes(values: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each code's name, equal in every process (for content hashes)."""
    with _lock:
        while len(_hashes) < len(_names):
            digest = hashlib.blake2b(_names[len(_hashes)].encode(), digest_size=8).digest()
            _hashes.append(int.from_bytes(digest, "little"))
        table = np.asarray(_hashes, np.uint64)
    return table[values]
