"""Checks and conversions of values callers hand to the store: ids, scores, times, attributes,
page sizes.

These are the store's limits, so every way in (HTTP, Python, the command line) obeys them;
`serving.schemas` publishes the same numbers in the OpenAPI document.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from discerner.schema import FIRST_TIME, LAST_TIME, TIME_RANGE
from discerner.store.tables import EPOCH, iso_utc, now_micros, parse_iso_micros

RESERVED = frozenset({"id", "created_at", "external_id"})
# Product attributes with a meaning for recommendations (`StoreContract.product_rules`): each
# has its own rule, and a value meaning "none" (no labels, not hidden) is not stored.
PRODUCT_FIELDS = ("labels", "hidden", "expires_at")
MAX_LABELS = 32
MAX_LABEL = 64
MAX_EXTERNAL_ID = 256
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTE_TEXT = 1024
# Attribute numbers stay within 64-bit integers, which every Parquet and JSON reader holds.
MIN_ATTRIBUTE_NUMBER, MAX_ATTRIBUTE_NUMBER = -(2**63), 2**63 - 1
MIN_UNIX_SECONDS = (FIRST_TIME - EPOCH) // timedelta(seconds=1)  # -62135596800
MAX_UNIX_SECONDS = (LAST_TIME - EPOCH) // timedelta(seconds=1)  # 253402300799


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

    Naive datetimes and strings without an offset are taken as UTC. The time must lie from
    0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z (Unix seconds -62135596800 to 253402300799).

    Raises:
        ValueError: The value is not a time, or lies outside that range.
    """
    if value is None:
        return now_micros()
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        micros = (moment - EPOCH) // timedelta(microseconds=1)
    elif isinstance(value, str):
        try:
            micros = parse_iso_micros(value)
        except ValueError:
            raise ValueError(f"timestamp must be ISO 8601, got {value!r}") from None
    elif isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return _unix_micros(value)
    else:
        raise ValueError(f"timestamp must be a time, got {value!r}")
    if not MIN_UNIX_SECONDS * 1_000_000 <= micros <= MAX_UNIX_SECONDS * 1_000_000:
        raise ValueError(f"timestamp must be from {TIME_RANGE}, got {value!r}")
    return micros


def _unix_micros(seconds: int | float | np.number) -> int:
    # Compared before any arithmetic: 10**400 seconds is too large even for a float.
    exact = seconds if isinstance(seconds, int) else float(seconds)
    if isinstance(exact, float) and not math.isfinite(exact):
        raise ValueError(f"timestamp must be finite, got {seconds!r}")
    if not MIN_UNIX_SECONDS <= exact <= MAX_UNIX_SECONDS:
        raise ValueError(f"timestamp must be from {TIME_RANGE}, got {seconds!r} (Unix seconds)")
    return round(exact * 1_000_000)


def external_id(value: object) -> str | None:
    """None or a non-empty string of at most 256 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EXTERNAL_ID:
        raise ValueError(f"external_id must be a string of 1-{MAX_EXTERNAL_ID} characters")
    return _no_nul(value, "external_id")


def attributes(values: dict | None, product: bool = False) -> dict | None:
    """A flat dict of str -> str|int|float|bool (None values dropped), or None when empty.

    At most 64 attributes; names of 1-64 characters other than id, created_at and external_id;
    text of at most 1,024 characters; finite numbers from -2**63 to 2**63 - 1. A product's
    `labels`, `hidden` and `expires_at` follow `product_field` instead.

    Raises:
        ValueError: `values` breaks one of those rules (the message says which).
    """
    if values is None:
        return None
    if not isinstance(values, dict):
        raise ValueError("attributes must be an object of name -> value")
    out = {}
    for key, value in values.items():
        _attribute_name(key)
        if product and key in PRODUCT_FIELDS:
            value = product_field(key, value)
        elif value is not None:
            value = attribute(key, value)
        if value is not None:
            out[key] = value
    if len(out) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes, got {len(out)}")
    return out or None


def _attribute_name(key: object) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_ATTRIBUTE_NAME or key in RESERVED:
        raise ValueError(
            f"invalid attribute name {key!r}: names are 1-{MAX_ATTRIBUTE_NAME} characters, "
            f"other than {', '.join(sorted(RESERVED))}"
        )


def product_field(name: str, value: object) -> list[str] | bool | str | None:
    """A product's `labels`, `hidden` or `expires_at`, checked; None when it means "none".

    `labels`: a list of at most 32 distinct texts of 1-64 characters without a comma
    (an empty list: none).
    `hidden`: true or false (false: none). `expires_at`: a time as `timestamp` accepts it
    (None is none, not now), kept as ISO 8601 UTC text.

    Raises:
        ValueError: The value breaks its rule.
    """
    if value is None:
        return None
    if name == "hidden":
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"hidden must be true or false, got {value!r}")
        return True if value else None
    if name == "expires_at":
        try:
            return iso_utc(timestamp(value))
        except ValueError as error:
            raise ValueError(f"expires_at: {str(error).removeprefix('timestamp ')}") from None
    return _labels(value)


def _labels(value: object) -> list[str] | None:
    if isinstance(value, str) or not isinstance(value, list | tuple | np.ndarray):
        raise ValueError(f"labels must be a list of texts, got {value!r}")
    labels = list(value)
    for label in labels:
        if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
            raise ValueError(
                f"each label must be a text of 1-{MAX_LABEL} characters, got {label!r}"
            )
        _no_nul(label, "a label")
        if "," in label:  # the recommendation filters list labels separated by commas
            raise ValueError(f"a label cannot hold a comma, got {label!r}")
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be distinct")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels, got {len(labels)}")
    return labels or None


def merged(
    external: str | None, attrs: dict | None, changes: object, product: bool
) -> tuple[str | None, dict | None]:
    """An entity's external id and attributes after a JSON merge patch (RFC 7396), checked.

    `changes` maps names to new values: `external_id` to a new external id (None removes it),
    an attribute to its new value (None removes it; `labels` is replaced whole).

    Raises:
        ValueError: `changes` is not an object, names id or created_at, or the result breaks
            a rule of `external_id` or `attributes`.
    """
    if not isinstance(changes, dict):
        raise ValueError("the changes must be an object of name -> new value (null removes)")
    fixed = sorted(RESERVED.intersection(changes) - {"external_id"})
    if fixed:
        raise ValueError(f"{fixed[0]} cannot be changed")
    if "external_id" in changes:
        external = external_id(changes["external_id"])
    new = dict(attrs or {})
    for name, value in changes.items():
        if name == "external_id":
            continue
        _attribute_name(name)
        if value is None:
            new.pop(name, None)
        else:
            new[name] = value
    return external, attributes(new, product)


def _no_nul(text: str, what: str) -> str:
    # NUL is no character of any text a shop stores, and PostgreSQL cannot store it: every
    # backend refuses it alike.
    if "\x00" in text:
        raise ValueError(f"{what} must not contain the NUL character (U+0000)")
    return text


def attribute(name: str, value: object) -> str | int | float | bool:
    """One attribute's value, checked: text, a number or a boolean, within the limits."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise ValueError(f"attribute {name!r} must be at most {MAX_ATTRIBUTE_TEXT} characters")
        return _no_nul(value, f"attribute {name!r}")
    if isinstance(value, bool):
        return value
    if not isinstance(value, int | float):
        raise ValueError(f"attribute {name!r} must be text, a number or a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"attribute {name!r} must be finite")
    if not MIN_ATTRIBUTE_NUMBER <= value <= MAX_ATTRIBUTE_NUMBER:
        raise ValueError(f"attribute {name!r} must be between -2**63 and 2**63 - 1")
    return value


def limit(value: object) -> int:
    """A page size: a non-negative int (not a bool); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"limit must be a non-negative integer, got {value!r}")
    return value
