"""Users and products: create, read, page through, count and delete one kind of entity."""

from __future__ import annotations

import numpy as np

from discerner.errors import DuplicateExternalIdError
from discerner.store import values
from discerner.store.engine import Engine
from discerner.store.product_rules import ProductRules
from discerner.store.state import State
from discerner.store.tables import EntityTable, iso_utc, now_micros


class Entities:
    """The users (`kind` "user") or the products ("product") of an open store."""

    def __init__(self, engine: Engine, kind: str):
        self.engine, self.kind = engine, kind

    @property
    def table(self) -> EntityTable:
        """The current table (a fall-back to the durable state replaces it)."""
        state = self.engine.state
        return state.users if self.kind == "user" else state.products

    def create(self, external_id: str | None, attributes: dict | None) -> dict:
        """Create an entity with the next id; returns its dict."""
        external = values.external_id(external_id)
        attrs = values.attributes(attributes, product=self.kind == "product")
        kind = self.kind

        def build(state: State) -> tuple[dict, dict]:
            table = state.users if kind == "user" else state.products
            if external is not None and external in table.by_external:
                raise DuplicateExternalIdError(f"a {kind} with external_id {external!r} exists")
            op = {"op": kind, "id": table.next_id, "t": now_micros(), "x": external, "a": attrs}
            record = {"id": op["id"], "created_at": iso_utc(op["t"]), "external_id": external}
            return op, record | (attrs or {})

        return self.engine.write(build)

    def get(self, entity_id: int) -> dict | None:
        """The live entity's dict, or None (also for an id that is not an integer)."""
        with self.engine.lock:
            table = self.table
            wanted = isinstance(entity_id, int | np.integer) and not isinstance(entity_id, bool)
            row = table.row(entity_id) if wanted else None
            return None if row is None else table.record(row)

    def get_by_external_id(self, external_id: str) -> dict | None:
        """The live entity with that external id, or None."""
        with self.engine.lock:
            found = self.table.by_external.get(external_id)
            return None if found is None else self.get(found)

    def has(self, entity_id: int) -> bool:
        """Whether a live entity has this id."""
        # Without the lock: every request asks, and a contended lock makes request threads
        # queue for it and for the GIL in turn. A dict look-up and one flag read are each
        # atomic, and an entity's row is in the dict only once its flag is set.
        return self.table.row(entity_id) is not None

    def existing(self, entity_ids: list[int]) -> set[int]:
        """The ids among `entity_ids` that live entities have."""
        return {i for i in entity_ids if self.table.row(i) is not None}

    def page(self, after: int, limit: int) -> list[dict]:
        """Up to `limit` live entities with id > `after`, ascending."""
        with self.engine.lock:
            return self.table.page(after, values.limit(limit))

    def count(self) -> int:
        """Number of live entities."""
        return self.table.live

    def delete(self, entity_id: int) -> bool:
        """Delete the entity and (by the log record's meaning) its activities; False if none."""
        engine = self.engine
        with engine.lock:
            engine.check_writable()
            if self.table.row(entity_id) is None:
                return False
            log, seq = engine.commit({"op": f"del_{self.kind}", "id": int(entity_id)})
        engine.wait(log, seq)
        return True

    def update(self, entity_id: int, changes: dict) -> dict | None:
        """Apply a JSON merge patch to the entity's external id and attributes, durably.

        Returns:
            The entity's new dict, or None when no live entity has that id (nothing written).
        """
        engine, kind = self.engine, self.kind
        with engine.lock:
            engine.check_writable()
            wanted = isinstance(entity_id, int | np.integer) and not isinstance(entity_id, bool)
            row = self.table.row(entity_id) if wanted else None
            if row is None:
                return None
            table = self.table
            old = (table.external[row], table.attrs[row])
            external, attrs = values.merged(*old, changes, product=kind == "product")
            owner = table.by_external.get(external or "")
            if owner not in (None, entity_id):
                raise DuplicateExternalIdError(f"a {kind} with external_id {external!r} exists")
            if (external, attrs) == old:
                return table.record(row)  # nothing changes: nothing to write
            op = {"op": f"upd_{kind}", "id": int(entity_id), "x": external, "a": attrs}
            log, seq = engine.commit(op)
            record = table.record(row)
        engine.wait(log, seq)
        return record

    def rules(self) -> ProductRules:
        """The products' hidden flags, expiry times and labels; one object until they change."""
        with self.engine.lock:
            state = self.engine.state
            table = state.products
            if state.rules is None or state.rules[0] != table.changes:
                rows = table.live_rows().tolist()
                found = ProductRules.of((int(table.ids[r]), table.attrs[r]) for r in rows)
                state.rules = (table.changes, found)
            return state.rules[1]
