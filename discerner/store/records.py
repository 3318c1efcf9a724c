"""What a log record may say: each operation's fields, and the state it needs to apply.

Replay checks every record before applying it, so a record whose CRC is valid but whose
meaning is not (a missing field, a duplicate id, an activity of no user) is reported as
corruption instead of failing half-applied or being applied silently.
"""

from __future__ import annotations

import math

from discerner.store import activity_types
from discerner.store.activity_table import ActivityTable
from discerner.store.snapshot import SEGMENT_NAME
from discerner.store.tables import EntityTable

_INT = (int,)
_NUMBER = (int, float)
# Field -> allowed types, per operation; "x" and "a" may be absent (older versions).
_FIELDS = {
    "user": {"id": _INT, "t": _INT},
    "product": {"id": _INT, "t": _INT},
    "acts": {"r": (list,)},
    "del_user": {"id": _INT},
    "del_product": {"id": _INT},
    "upd_user": {"id": _INT},
    "upd_product": {"id": _INT},
    "import": {"segment": (str,), "rows": _INT, "users": (list,), "products": (list,), "t": _INT},
}
_OPTIONAL = {"x": (str, type(None)), "a": (dict, type(None)), "sum": (dict,)}


def sequence(op: object) -> int:
    """The sequence number of a decoded record.

    Raises:
        ValueError: The record is not a JSON object with an integer `s`.
    """
    if not isinstance(op, dict):
        raise ValueError(f"a log record must be a JSON object, not {type(op).__name__}")
    _typed(op, "s", _INT)
    return op["s"]


def check(op: dict, users: EntityTable, products: EntityTable, acts: ActivityTable) -> None:
    """Check that a record (with a valid `sequence`) applies to the tables as they are.

    Raises:
        ValueError: What is wrong with the record.
    """
    kind = op.get("op")
    if kind not in _FIELDS:
        raise ValueError(f"unknown log operation {kind!r}")
    for name, types in _FIELDS[kind].items():
        _typed(op, name, types)
    for name, types in _OPTIONAL.items():
        if name in op:
            _typed(op, name, types)
    if kind in ("user", "product"):
        _check_new_entity(op, kind, users if kind == "user" else products)
    elif kind in ("del_user", "del_product"):
        table, name = (users, "user") if kind == "del_user" else (products, "product")
        _check_live(table, name, op["id"])
    elif kind in ("upd_user", "upd_product"):
        table, name = (users, "user") if kind == "upd_user" else (products, "product")
        _check_live(table, name, op["id"])
        owner = table.by_external.get(op.get("x") or "")
        if owner not in (None, op["id"]):
            raise ValueError(f"{name} {op['id']} takes the external id of {name} {owner}")
    elif kind == "acts":
        _check_activities(op["r"], users, products, acts)
    else:
        _check_import(op, users, products)


def _typed(op: dict, name: str, types: tuple) -> None:
    if name not in op:
        raise ValueError(f"the {op.get('op', 'log')!r} record has no field {name!r}")
    if not _is(op[name], types):
        raise ValueError(f"field {name!r} is {op[name]!r}, not of type {types[0].__name__}")


def _is(value: object, types: tuple) -> bool:
    # JSON true/false load as bool, a subclass of int: never an id, time or score.
    return isinstance(value, types) and not isinstance(value, bool)


def _check_new_entity(op: dict, kind: str, table: EntityTable) -> None:
    entity_id, external = op["id"], op.get("x")
    if entity_id in table.rows:
        raise ValueError(f"duplicate {kind} id {entity_id}")
    if entity_id < table.next_id:  # ids only grow: a smaller one breaks their order
        raise ValueError(f"{kind} id {entity_id} is below the next free id {table.next_id}")
    if external is not None and external in table.by_external:
        raise ValueError(f"duplicate {kind} external id {external!r}")


def _check_live(table: EntityTable, kind: str, entity_id: int) -> None:
    if table.row(entity_id) is None:
        raise ValueError(f"no live {kind} {entity_id}")


def _check_activities(rows: list, users: EntityTable, products: EntityTable, acts) -> None:
    previous = acts.next_id - 1
    for row in rows:
        # Records of older versions have no type: those activities are "score".
        if not (isinstance(row, list) and len(row) in (5, 6)):
            raise ValueError(
                f"an activity must be [id, user, product, score, time, type], not {row!r}"
            )
        activity_id, user, product, score, ts = row[:5]
        if len(row) == 6:
            activity_types.code(activity_types.check(row[5]))
        if not all(_is(v, _INT) for v in (activity_id, user, product, ts)):
            raise ValueError(f"activity {row!r} has a non-integer id, user, product or time")
        if not _is(score, _NUMBER) or not math.isfinite(score):
            raise ValueError(f"activity {row!r} has a score that is not a finite number")
        if activity_id <= previous:
            raise ValueError(f"activity id {activity_id} does not follow id {previous}")
        _check_live(users, "user", user)
        _check_live(products, "product", product)
        previous = activity_id


def _check_import(op: dict, users: EntityTable, products: EntityTable) -> None:
    if not SEGMENT_NAME.fullmatch(op["segment"]):
        raise ValueError(f"segment {op['segment']!r} is not a segment file name")
    for name, table in (("users", users), ("products", products)):
        for entity_id in op[name]:
            if not _is(entity_id, _INT):
                raise ValueError(f"the import creates {name} {entity_id!r}, not an integer id")
            if table.row(entity_id) is not None:
                raise ValueError(f"the import creates {name[:-1]} {entity_id}, who exists")
