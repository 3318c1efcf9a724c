"""The store's contract: what every backend promises the server, training, the CLI and notebooks.

`StoreContract` is a `typing.Protocol`: a backend satisfies it by having these methods with these
signatures and keeping the promises in their docstrings, which `tests/store/contract/` checks
for every backend. The embedded backend is `discerner.store.Store`; how a backend is opened
(a folder, a database URL) is the backend's own business and not part of the contract.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from discerner.store.product_rules import ProductRules


@runtime_checkable
class StoreContract(Protocol):
    """Users, products, activities and API accounts, durable and shared between threads.

    Promises every method keeps:

    - **Durable when acknowledged.** A write that returned (so an HTTP 2xx) survives a crash
      of the process or the machine. A write that raised left nothing behind: a refused
      argument changes nothing, and a write the storage failed to keep raises `StoreError`
      and is not visible afterwards (other threads may have seen it for the moment before).
    - **Read your writes.** A read that starts after a write returned sees it, in this process
      and in every store opened on the same data afterwards (a read-only one included).
    - **Ids.** Users, products and activities get positive integer ids, ascending in the order
      of creation and never reused, not even after a delete.
    - **Threads.** Every method may be called from many threads at once; each write is atomic
      (all or nothing), and concurrent writes get distinct ids.
    - **Keyset pages.** `list_*` return up to `limit` live rows with id > `after`, ascending
      by id; a page shorter than `limit` is the last. `limit` must be an int >= 0
      (`ValueError` otherwise).
    - **Deletes cascade.** Deleting a user or product deletes its activities in the same write;
      the entity's external id and attributes stop being readable at once.
    - **Errors.** Malformed arguments raise `ValueError` (a message naming the value and the
      limit, see `discerner.store.values`); references to missing entities raise
      `UnknownUserError` / `UnknownProductError`; writes to a read-only or closed store raise
      `StoreReadOnlyError` / `StoreError`.

    Entities are returned as JSON-ready dicts: {"id", "created_at" (ISO 8601 UTC ending in
    "Z"), "external_id", **attributes}; activities as {"id", "user_id", "product_id", "score",
    "timestamp", "type"}.
    """

    # ----------------------------------------------------------------- users and products

    def create_user(self, external_id: str | None = None, attributes: dict | None = None) -> dict:
        """Create a user with the next id, durably.

        Args:
            external_id: An optional unique string (1-256 characters) naming the user in the
                caller's system.
            attributes: A flat dict of str -> str|int|float|bool (at most 64; None values are
                dropped).

        Returns:
            {"id", "created_at", "external_id", **attributes}.

        Raises:
            DuplicateExternalIdError: Another live user has that external id.
            ValueError: An argument is malformed.
        """
        ...

    def create_product(
        self, external_id: str | None = None, attributes: dict | None = None
    ) -> dict:
        """Create a product with the next id; `attributes` usually holds its `category`.

        Three attribute names have their own rules (`discerner.store.values.product_field`),
        and a value meaning "none" is not stored: `labels` (a list of at most 32 distinct
        texts of 1-64 characters; [] is none), `hidden` (a bool; false is none) and
        `expires_at` (a time as `add_activity` takes it; kept as ISO 8601 UTC text).

        Returns and raises as `create_user`.
        """
        ...

    def get_user(self, user_id: int) -> dict | None:
        """The user's dict, or None when no live user has that id (or it is not an int)."""
        ...

    def get_product(self, product_id: int) -> dict | None:
        """The product's dict, or None when no live product has that id (or it is not an int)."""
        ...

    def get_user_by_external_id(self, external_id: str) -> dict | None:
        """The live user with that external id, or None."""
        ...

    def get_product_by_external_id(self, external_id: str) -> dict | None:
        """The live product with that external id, or None."""
        ...

    def has_user(self, user_id: int) -> bool:
        """Whether a live user has this id; cheap enough to call on every request."""
        ...

    def has_product(self, product_id: int) -> bool:
        """Whether a live product has this id; cheap enough to call on every request."""
        ...

    def existing_products(self, product_ids: list[int]) -> set[int]:
        """The ids among `product_ids` that live products have; one look-up for many (a
        recommendation checks its candidates at once)."""
        ...

    def list_users(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` live users with id > `after`, ascending by id (a keyset page)."""
        ...

    def list_products(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` live products with id > `after`, ascending by id (a keyset page)."""
        ...

    def count_users(self) -> int:
        """Number of live users."""
        ...

    def count_products(self) -> int:
        """Number of live products."""
        ...

    def count_activities(self) -> int:
        """Number of live activities."""
        ...

    def update_user(self, user_id: int, changes: dict) -> dict | None:
        """Change a user's external id and attributes by a JSON merge patch, durably.

        Args:
            user_id: The user.
            changes: {name: new value}: `external_id` or an attribute; None removes it (an
                absent name stays as it is). Checked whole before anything changes.

        Returns:
            The user's new dict, or None when no live user has that id (nothing is written).

        Raises:
            DuplicateExternalIdError: Another live user has the new external id.
            ValueError: `changes` is not a dict, names id or created_at, or the result breaks
                a rule of `create_user` (nothing is written).
        """
        ...

    def update_product(self, product_id: int, changes: dict) -> dict | None:
        """Change a product's external id and attributes by a JSON merge patch, durably.

        As `update_user`, with the rules of `create_product`: `labels` is replaced whole,
        `hidden` set or cleared, `expires_at` set or (None) cleared.
        """
        ...

    def delete_user(self, user_id: int) -> bool:
        """Delete a user and every activity of theirs in one durable write.

        Returns:
            True, or False when there is no live user with that id (nothing is written).
        """
        ...

    def delete_product(self, product_id: int) -> bool:
        """Delete a product and every activity with it in one durable write.

        Returns:
            True, or False when there is no live product with that id (nothing is written).
        """
        ...

    # ----------------------------------------------------------------- activities

    def add_activity(
        self,
        user_id: int,
        product_id: int,
        score: float = 1.0,
        timestamp: object = None,
        type: str | None = None,
    ) -> dict:
        """Record that a user did something with a product, durably.

        Args:
            user_id: A live user's id.
            product_id: A live product's id.
            score: A finite number (default 1.0).
            timestamp: When: None (now), a datetime, an ISO 8601 string or Unix seconds,
                from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z (naive times are UTC).
            type: What the user did: 1-64 letters, digits, '_', '-', '.' or ':'
                (`discerner.schema.TYPE_RULE`); None is "score", the default type.

        Returns:
            {"id", "user_id", "product_id", "score", "timestamp", "type"}.

        Raises:
            UnknownUserError: No live user has `user_id`.
            UnknownProductError: No live product has `product_id`.
            ValueError: An argument is malformed.
        """
        ...

    def add_activities(self, rows: list[dict]) -> list[dict]:
        """Record many activities in one durable write: all or nothing, consecutive ids.

        Args:
            rows: Dicts with `user_id`, `product_id` and optional `score`, `timestamp`,
                `type`.

        Returns:
            One dict per row, in order, as `add_activity` returns.

        Raises:
            As `add_activity`, for the first bad row; then nothing is recorded.
        """
        ...

    def list_activities(
        self,
        after: int = 0,
        limit: int = 1000,
        user_id: int | None = None,
        product_id: int | None = None,
        type: str | None = None,
    ) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending by id (a keyset page),
        optionally only those of one user, one product and/or one type (a type no activity
        has gives an empty page; a malformed one raises `ValueError`).
        """
        ...

    def user_history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids int64, scores float64) of a user's live activities, oldest first.

        Ordered by timestamp, then id. An unknown user has two empty arrays.
        """
        ...

    def user_activity(self, user_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(product ids int64, scores float64, types str) of a user's live activities.

        Oldest first, as `user_history` (the same rows in the same order, plus each one's
        type). An unknown user has three empty arrays.
        """
        ...

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed.

        Cheap (called on every request), for caches of answers computed from `user_history`:
        read the version first, then the history, and keep the answer under that version; an
        answer whose version is still current was computed from the current history. A value
        is never reused for a user while the store is open; compare versions only within one
        open store.
        """
        ...

    def product_counts(self) -> pd.DataFrame:
        """Per product with live activities: product_id, count, score_sum; ascending id."""
        ...

    def product_categories(self) -> dict[int, str]:
        """{product id: category} of live products whose attributes have a category.

        The same dict object is returned until a product changes (callers may cache by
        identity); treat it as read-only.
        """
        ...

    def activities_per_day(self, since: object) -> dict[str, int]:
        """Live activities per UTC day, by their timestamp, from `since`'s day on.

        Args:
            since: A time as `add_activity` takes it; counting starts at 00:00 UTC of its day.

        Returns:
            {"YYYY-MM-DD": count}, ascending by day; days without activities are absent.
            One pass over the activities' times (PostgreSQL: a sequential scan), for a
            dashboard, not for every request.

        Raises:
            ValueError: `since` is not a time.
        """
        ...

    def product_rules(self) -> ProductRules:
        """Hidden products, expiry times and labels of live products (`ProductRules`).

        Cheap enough for every request: the same immutable object is returned until a product
        changes (in any process sharing the data), so callers may cache by identity. A change
        is seen by the next call after the write returned.
        """
        ...

    # ----------------------------------------------------------------- frames and versions

    def interactions(self) -> pd.DataFrame:
        """A consistent copy of every live activity, the training frame.

        Columns `discerner.schema` names: user_id, product_id (int64), score (float64),
        timestamp (datetime64[us, UTC]), type (categorical of str, categories sorted by
        name); in id order.
        """
        ...

    def activities_since(self, since: object, types: list[str] | None = None) -> pd.DataFrame:
        """A consistent copy of the live activities at or after `since`, optionally of some types.

        What `interactions()` returns, keeping only the rows with timestamp >= `since` (and a
        type among `types`): the same columns and dtypes, in id order. Only those rows are
        copied (PostgreSQL: an index range scan on the time), so a recent `since` is cheap
        however long the history (an experiment's outcomes since its start).

        Args:
            since: A time as `add_activity` takes it (exact, to the microsecond).
            types: Activity types to keep (a type no activity has matches nothing); None
                keeps every type.

        Raises:
            ValueError: `since` is not a time, or a type is malformed.
        """
        ...

    def users_frame(self) -> pd.DataFrame:
        """Live users: id, created_at, external_id and one column per attribute name."""
        ...

    def products_frame(self) -> pd.DataFrame:
        """Live products: id, created_at, external_id and one column per attribute name."""
        ...

    def data_version(self) -> dict:
        """{"version", "users", "products", "activities", "hash"} of the data seen now.

        `version` counts the writes committed so far (each write adds one; it never goes back
        or repeats); `users`, `products`, `activities` count live rows; `hash` is a content
        hash of the live rows, so equal data has equal hashes whatever its history.
        """
        ...

    def export(self, directory: str | os.PathLike[str]) -> dict:
        """Write a consistent snapshot as Parquet files any reader opens, plus version.json.

        Writes users.parquet, products.parquet, activities.parquet into `directory`.

        Returns:
            The `data_version` of the exported data, plus "files" (their paths).
        """
        ...

    def import_interactions(self, frame: pd.DataFrame, progress: bool = True) -> dict:
        """Bulk-load interactions in one durable write, keeping the frame's ids.

        Missing users and products are created (a deleted id may be created again, without
        its old activities). All or nothing.

        Args:
            frame: Columns user_id, product_id, optional score, timestamp and type
                (validated here; a missing timestamp means now, a missing type "score").
            progress: Show a progress bar.

        Returns:
            {"activities", "users_created", "products_created", "version"}.

        Raises:
            DataFormatError: The frame is malformed (nothing is imported).
        """
        ...

    # ----------------------------------------------------------------- accounts

    def create_account(self, username: str, password_hash: str) -> dict:
        """Add an API account with a new random `account_id` (never reused), durably.

        Returns:
            {"username", "password_hash", "created_at", "token_version", "account_id"}.

        Raises:
            AccountExistsError: The username is taken.
            ValueError: The username is not 1-64 characters of [A-Za-z0-9_.@-].
        """
        ...

    def get_account(self, username: str) -> dict | None:
        """The account (as `create_account` returns it) or None.

        Sees accounts changed by any process at once (checked on every call, cheaply).
        """
        ...

    def list_accounts(self) -> list[dict]:
        """Every account, ordered by username."""
        ...

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace an account's password hash and bump its token_version (revoking tokens).

        Returns:
            True, or False when there is no such account.
        """
        ...

    def delete_account(self, username: str) -> bool:
        """Remove an account; False when there is none."""
        ...

    # ----------------------------------------------------------------- experiments

    def add_impressions(self, rows: list[dict]) -> None:
        """Append impressions of A/B experiments durably (returns once they are on disk).

        Each row: request_id, experiment, variant, version (str), user_id (int), product_ids
        (list of int, best first), time (an aware datetime). Telemetry, not data: no data
        version or history version changes.
        """
        ...

    def impressions(self, experiment: str) -> pd.DataFrame:
        """Every impression of `experiment` in the order written: the row's columns, with
        product_ids a list per row and time datetime64[us, UTC]; empty when there is none."""
        ...

    # ----------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Finish background work and release resources; later writes raise `StoreError`.

        Idempotent. Every acknowledged write is already durable; closing raises `StoreError`
        only when the storage failed earlier (the refused writes stay refused).
        """
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
