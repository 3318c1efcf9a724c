"""Column names, dtypes and the one validation of interactions frames where they enter."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from discerner.errors import DataFormatError

USER_ID = "user_id"
PRODUCT_ID = "product_id"
SCORE = "score"
TIMESTAMP = "timestamp"
TYPE = "type"
RANK = "rank"
INTERACTION_COLUMNS = (USER_ID, PRODUCT_ID, SCORE, TIMESTAMP)
RECOMMENDATION_COLUMNS = (USER_ID, PRODUCT_ID, SCORE, RANK)
TIMESTAMP_DTYPE = "datetime64[us, UTC]"
DEFAULT_SCORE = 1.0
# An activity's type says what the user did ("view", "purchase", "rating:dislike"); how each
# type counts in training is `discerner.feedback`'s business. Activities without one are "score".
DEFAULT_TYPE = "score"
MAX_TYPE = 64
TYPE_PATTERN = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_TYPE}}}")
TYPE_RULE = f"1-{MAX_TYPE} letters, digits, '_', '-', '.' or ':'"
# Times from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z: the years a datetime (and so the
# ISO text the API answers) can hold, in UTC once the offset is applied. Whole seconds at the
# top, so that the ISO and the Unix-seconds forms share one range.
FIRST_TIME = datetime(1, 1, 1, tzinfo=UTC)
LAST_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
TIME_RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


def validate_interactions(
    frame: pd.DataFrame, *, source: str | None = None, first_line: int | None = None
) -> pd.DataFrame:
    """Check an interactions frame and return it in the one shape the library uses.

    The result has columns `user_id` and `product_id` (int64, positive), `score` (float64,
    finite; 1.0 when the column is absent) and `timestamp` (`datetime64[us, UTC]`, NaT when
    absent; numbers are Unix seconds, text is ISO 8601), plus `type` (categorical, see
    `TYPE_RULE`; an empty value is "score") when the frame has one. The input is never
    modified.

    Args:
        frame: Any frame with at least `user_id` and `product_id`.
        source: The file the rows came from, named in errors.
        first_line: The file line of the frame's first row; errors then name the line.

    Returns:
        A new frame with exactly the four columns (five with `type`), index reset.

    Raises:
        DataFormatError: A column is missing or a value is not valid; names the first bad row.
    """
    missing = [c for c in (USER_ID, PRODUCT_ID) if c not in frame.columns]
    if missing:
        raise DataFormatError(f"missing column(s) {', '.join(missing)}", path=source)
    out = pd.DataFrame(
        {
            USER_ID: _positive_ids(frame[USER_ID], USER_ID, source, first_line),
            PRODUCT_ID: _positive_ids(frame[PRODUCT_ID], PRODUCT_ID, source, first_line),
        }
    )
    if SCORE in frame.columns:
        out[SCORE] = _finite_scores(frame[SCORE], source, first_line)
    else:
        out[SCORE] = np.full(len(frame), DEFAULT_SCORE)
    if TIMESTAMP in frame.columns:
        out[TIMESTAMP] = _timestamps(frame[TIMESTAMP], source, first_line)
    else:
        out[TIMESTAMP] = pd.Series(pd.NaT, index=out.index, dtype=TIMESTAMP_DTYPE)
    if TYPE in frame.columns:
        out[TYPE] = _types(frame[TYPE], source, first_line)
    return out


def _refuse_first(bad, describe, source: str | None, first_line: int | None) -> None:
    """Raise for the first row where `bad` is true; `describe(row)` says what is wrong there."""
    bad = np.asarray(bad)
    if not bad.any():
        return
    position = int(np.flatnonzero(bad)[0])
    message = describe(position)
    if first_line is None:
        raise DataFormatError(f"row {position}: {message}", path=source)
    raise DataFormatError(message, path=source, line=first_line + position)


def _positive_ids(values: pd.Series, name: str, source, first_line) -> np.ndarray:
    numbers = pd.to_numeric(values.reset_index(drop=True), errors="coerce")
    as_float = numbers.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~(np.isfinite(as_float) & (as_float > 0) & (as_float == np.floor(as_float)))
    bad |= as_float > np.iinfo(np.int64).max
    _refuse_first(
        bad,
        lambda i: f"{name} must be a positive integer, got {values.iloc[i]!r}",
        source,
        first_line,
    )
    return numbers.to_numpy(dtype="int64")


def _finite_scores(values: pd.Series, source, first_line) -> np.ndarray:
    numbers = pd.to_numeric(values.reset_index(drop=True), errors="coerce")
    as_float = numbers.to_numpy(dtype="float64", na_value=np.nan)
    _refuse_first(
        ~np.isfinite(as_float),
        lambda i: f"score must be a finite number, got {values.iloc[i]!r}",
        source,
        first_line,
    )
    return as_float


def _types(values: pd.Series, source, first_line) -> pd.Categorical:
    """Activity types as a categorical; each distinct value is checked once (fast on 20M rows)."""
    values = values.reset_index(drop=True)
    codes, found = pd.factorize(values)  # a missing value has code -1: the last name below
    names = [DEFAULT_TYPE if name == "" else name for name in found] + [DEFAULT_TYPE]
    bad = [i for i, name in enumerate(names) if not _is_type(name)]
    _refuse_first(
        np.isin(codes, bad),
        lambda i: f"type must be {TYPE_RULE}, got {values.iloc[i]!r}",
        source,
        first_line,
    )
    categories = sorted(set(names))
    position = {name: i for i, name in enumerate(categories)}
    lookup = np.asarray([position[name] for name in names], np.int64)
    return pd.Categorical.from_codes(lookup[codes], categories=categories)


def _is_type(name: object) -> bool:
    return isinstance(name, str) and TYPE_PATTERN.fullmatch(name) is not None


def _timestamps(values: pd.Series, source, first_line) -> pd.Series:
    values = values.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            parsed = pd.to_datetime(numbers, unit="s", utc=True, errors="coerce")
        else:
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna() & values.notna() & (values.astype("string") != "")
        _refuse_first(
            bad, lambda i: f"timestamp is not a time, got {values.iloc[i]!r}", source, first_line
        )
    parsed = parsed.astype(TIMESTAMP_DTYPE)
    # numpy prints years past 9999, which Python's datetime (and so pandas' repr) cannot.
    shown = parsed.dt.tz_convert(None).to_numpy()
    _refuse_first(
        (parsed < FIRST_TIME) | (parsed > LAST_TIME),
        lambda i: f"timestamp must be from {TIME_RANGE}, got {np.datetime_as_string(shown[i])}Z",
        source,
        first_line,
    )
    return parsed
