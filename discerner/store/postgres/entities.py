"""Users and products in PostgreSQL: create, read, page through, count and delete."""

from __future__ import annotations

import threading

import psycopg
from psycopg.types.json import Jsonb

from discerner.errors import DuplicateExternalIdError, StoreError
from discerner.store import values
from discerner.store.postgres.database import Database, db_id, iso, to_datetime
from discerner.store.product_rules import ProductRules
from discerner.store.tables import now_micros

_COLUMNS = "id, created_at, external_id, attributes"


class Entities:
    """The users (`kind` "user") or the products ("product") of a PostgreSQL store."""

    def __init__(self, db: Database, kind: str):
        self.db, self.kind = db, kind
        self.table = "users" if kind == "user" else "products"
        # A user's history version starts at a fresh value, above any its id had before.
        history = ", history_version" if kind == "user" else ""
        self._insert = (
            f"INSERT INTO {self.table} (id, created_at, external_id, attributes{history})"
            f" SELECT discerner_take_ids('{self.table}_ids', 1), %(t)s, %(x)s, %(a)s"
            + (", nextval('history_versions')" if history else "")
            + f" WHERE NOT EXISTS (SELECT 1 FROM {self.table} WHERE external_id = %(x)s)"
            " RETURNING id"
        )
        self._rules: tuple[int, ProductRules] | None = None
        self._rules_lock = threading.Lock()

    def create(self, external_id: str | None, attributes: dict | None) -> dict:
        """Create an entity with the next id; returns its dict."""
        external = values.external_id(external_id)
        attrs = values.attributes(attributes, product=self.kind == "product")
        created = to_datetime(now_micros())
        params = {"t": created, "x": external, "a": Jsonb(attrs) if attrs else None}
        try:
            with self.db.writing(products=self.kind == "product") as conn:
                row = conn.execute(self._insert, params).fetchone()
                if row is None:
                    raise self._duplicate(external)
        except StoreError as exc:  # a creation racing ours took the external id first
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise self._duplicate(external) from None
            raise
        return _record(row[0], created, external, attrs)

    def _duplicate(self, external: str | None) -> DuplicateExternalIdError:
        return DuplicateExternalIdError(f"a {self.kind} with external_id {external!r} exists")

    def get(self, entity_id: int) -> dict | None:
        """The entity's dict, or None (also for an id that is not an integer)."""
        wanted = db_id(entity_id)
        if wanted is None:
            return None
        query = f"SELECT {_COLUMNS} FROM {self.table} WHERE id = %s"
        with self.db.reading() as conn:
            row = conn.execute(query, (wanted,)).fetchone()
        return None if row is None else _record(*row)

    def get_by_external_id(self, external_id: str) -> dict | None:
        """The entity with that external id, or None."""
        if not isinstance(external_id, str):
            return None
        query = f"SELECT {_COLUMNS} FROM {self.table} WHERE external_id = %s"
        with self.db.reading() as conn:
            row = conn.execute(query, (external_id,)).fetchone()
        return None if row is None else _record(*row)

    def has(self, entity_id: int) -> bool:
        """Whether an entity has this id (one primary-key look-up)."""
        wanted = db_id(entity_id)
        if wanted is None:
            return False
        query = f"SELECT EXISTS (SELECT 1 FROM {self.table} WHERE id = %s)"
        with self.db.reading() as conn:
            return conn.execute(query, (wanted,)).fetchone()[0]

    def existing(self, entity_ids: list[int]) -> set[int]:
        """The ids among `entity_ids` that entities have (one index look-up each, one query)."""
        wanted = [i for i in map(db_id, entity_ids) if i is not None]
        if not wanted:
            return set()
        query = f"SELECT id FROM {self.table} WHERE id = ANY(%s)"
        with self.db.reading() as conn:
            return {row[0] for row in conn.execute(query, (wanted,))}

    def page(self, after: int, limit: int) -> list[dict]:
        """Up to `limit` entities with id > `after`, ascending."""
        limit = values.limit(limit)
        after = _after(after)
        if limit == 0 or after is None:
            return []
        query = f"SELECT {_COLUMNS} FROM {self.table} WHERE id > %s ORDER BY id LIMIT %s"
        with self.db.reading() as conn:
            return [_record(*row) for row in conn.execute(query, (after, limit))]

    def count(self) -> int:
        """Number of entities."""
        with self.db.reading() as conn:
            return conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]

    def update(self, entity_id: int, changes: dict) -> dict | None:
        """Apply a JSON merge patch to the entity's external id and attributes, in one
        transaction (the row locked while the patch is merged and checked).

        Returns:
            The entity's new dict, or None when there is no entity with that id.
        """
        wanted = db_id(entity_id)
        if wanted is None:
            return None
        select = f"SELECT {_COLUMNS} FROM {self.table} WHERE id = %s FOR UPDATE"
        update = f"UPDATE {self.table} SET external_id = %s, attributes = %s WHERE id = %s"
        try:
            with self.db.writing(products=self.kind == "product") as conn:
                row = conn.execute(select, (wanted,)).fetchone()
                if row is None:
                    raise _NothingToWriteError
                _, created, *old = row
                external, attrs = values.merged(*old, changes, product=self.kind == "product")
                if (external, attrs) == tuple(old):
                    raise _NothingToWriteError
                conn.execute(update, (external, Jsonb(attrs) if attrs else None, wanted))
        except _NothingToWriteError:
            return self.get(wanted)
        except StoreError as exc:  # another entity has (or just took) the external id
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise self._duplicate(external) from None
            raise
        return _record(wanted, created, external, attrs)

    def rules(self) -> ProductRules:
        """The products' hidden flags, expiry times and labels; the same object until a product
        changes in any process (every product write counts itself in `write_counts`)."""
        fields = list(values.PRODUCT_FIELDS)
        with self.db.snapshot() as conn:
            changes = conn.execute("SELECT sum(product_writes) FROM write_counts").fetchone()[0]
            cached = self._rules
            if cached is not None and cached[0] == changes:
                return cached[1]
            rows = conn.execute(
                "SELECT id, attributes FROM products WHERE attributes ?| %s ORDER BY id", (fields,)
            ).fetchall()
        with self._rules_lock:
            if self._rules is None or self._rules[0] != changes:
                self._rules = (changes, ProductRules.of(rows))
            return self._rules[1]

    def delete(self, entity_id: int) -> bool:
        """Delete the entity, then its activities, in one transaction; False when there is none.

        The entity's row goes first: it waits for writes that hold the row, and any
        activity committed before it is then seen by the second statement.
        """
        wanted = db_id(entity_id)
        if wanted is None:
            return False
        column = f"{self.kind}_id"
        try:
            with self.db.writing(products=self.kind == "product", cascade=True) as conn:
                gone = conn.execute(
                    f"DELETE FROM {self.table} WHERE id = %s RETURNING id", (wanted,)
                )
                if gone.fetchone() is None:
                    raise _NothingToWriteError
                conn.execute(f"DELETE FROM activities WHERE {column} = %s", (wanted,))
        except _NothingToWriteError:
            return False
        return True


class _NothingToWriteError(Exception):
    """Rolls back a delete or update that changes nothing, so that it does not count as a
    write."""


def _after(after: object) -> int | None:
    """A keyset bound as a bigint: below the range is 0, above it None (nothing follows)."""
    if isinstance(after, bool) or not isinstance(after, int):
        raise ValueError(f"after must be an integer, got {after!r}")
    return max(int(after), 0) if after <= 2**63 - 1 else None


def _record(entity_id: int, created, external: str | None, attrs: dict | None) -> dict:
    record = {"id": entity_id, "created_at": iso(created), "external_id": external}
    return record | (attrs or {})
