"""Checks and conversions of values callers hand to the store: ids, scores, times, attributes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from discerner.store.tables import EPOCH, now_micros, parse_iso_micros

RESERVED = frozenset({"id", "created_at", "external_id"})
MAX_EXTERNAL_ID = 256


def entity_id(value: object, name: str) -> int:
    """An id as a plain int; ValueError unless it is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def score(value: object) -> float:
    """A finite score as a float; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"score must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"score must be finite, got {value!r}")
    return number


def timestamp(value: object) -> int:
    """Microseconds since the epoch of a time: None (now), datetime, ISO string or Unix seconds.

    Naive datetimes and strings without an offset are taken as UTC.
    """
    if value is None:
        return now_micros()
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int((moment - EPOCH) // timedelta(microseconds=1))
    if isinstance(value, str):
        try:
            return parse_iso_micros(value)
        except ValueError:
            raise ValueError(f"timestamp must be ISO 8601, got {value!r}") from None
    number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if number and math.isfinite(float(value)):
        return round(float(value) * 1_000_000)
    raise ValueError(f"timestamp must be a time, got {value!r}")


def external_id(value: object) -> str | None:
    """None or a non-empty string of at most 256 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EXTERNAL_ID:
        raise ValueError(f"external_id must be a string of 1-{MAX_EXTERNAL_ID} characters")
    return value


def attributes(values: dict | None) -> dict | None:
    """A flat dict of str -> str|int|float|bool (None values dropped), or None when empty."""
    if values is None:
        return None
    if not isinstance(values, dict):
        raise ValueError("attributes must be an object of name -> value")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or key in RESERVED:
            raise ValueError(f"invalid attribute name {key!r}")
        if value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"attribute {key!r} must be text, a number or a boolean")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"attribute {key!r} must be finite")
        out[key] = value
    return out or None
