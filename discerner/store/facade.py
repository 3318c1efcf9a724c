"""`StoreFacade`: the methods of `StoreContract` that every backend answers by asking a part.

A backend holds parts with one shape: `_users` and `_products` (create, get,
get_by_external_id, has, page, count, update, delete; products also rules), `_activities`
(add, page, history, activity, history_version, product_counts, product_categories, count)
and `_accounts` (create, get, list, set_password, delete). This class turns the contract's
methods into those calls, so each backend writes only what differs: opening, closing,
frames, versions and imports.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import numpy as np
import pandas as pd

from discerner.store.product_rules import ProductRules


class StoreFacade:
    """The part-delegating half of a store; see `StoreContract` for what each method promises."""

    _users: Any
    _products: Any
    _activities: Any
    _accounts: Any

    def close(self) -> None:
        """Release what the store holds (each backend says what)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- users and products

    def create_user(self, external_id: str | None = None, attributes: dict | None = None) -> dict:
        """Create a user with the next id."""
        return self._users.create(external_id, attributes)

    def create_product(
        self, external_id: str | None = None, attributes: dict | None = None
    ) -> dict:
        """Create a product with the next id."""
        return self._products.create(external_id, attributes)

    def get_user(self, user_id: int) -> dict | None:
        """The user's dict, or None when there is no live user with that id."""
        return self._users.get(user_id)

    def get_product(self, product_id: int) -> dict | None:
        """The product's dict, or None when there is no live product with that id."""
        return self._products.get(product_id)

    def get_user_by_external_id(self, external_id: str) -> dict | None:
        """The live user with that external id, or None."""
        return self._users.get_by_external_id(external_id)

    def get_product_by_external_id(self, external_id: str) -> dict | None:
        """The live product with that external id, or None."""
        return self._products.get_by_external_id(external_id)

    def has_user(self, user_id: int) -> bool:
        """Whether a live user has this id (cheap: every request asks)."""
        return self._users.has(user_id)

    def has_product(self, product_id: int) -> bool:
        """Whether a live product has this id (cheap: every request asks)."""
        return self._products.has(product_id)

    def existing_products(self, product_ids: list[int]) -> set[int]:
        """The ids among `product_ids` that live products have (one look-up for many)."""
        return self._products.existing(product_ids)

    def list_users(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` users with id > `after`, ascending by id (keyset pagination)."""
        return self._users.page(after, limit)

    def list_products(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` products with id > `after`, ascending by id (keyset pagination)."""
        return self._products.page(after, limit)

    def count_users(self) -> int:
        """Number of live users."""
        return self._users.count()

    def count_products(self) -> int:
        """Number of live products."""
        return self._products.count()

    def count_activities(self) -> int:
        """Number of live activities."""
        return self._activities.count()

    def update_user(self, user_id: int, changes: dict) -> dict | None:
        """Change a user's external id and attributes (a JSON merge patch), durably."""
        return self._users.update(user_id, changes)

    def update_product(self, product_id: int, changes: dict) -> dict | None:
        """Change a product's external id and attributes (a JSON merge patch), durably."""
        return self._products.update(product_id, changes)

    def delete_user(self, user_id: int) -> bool:
        """Delete a user and, durably, every activity of theirs; False when there is none."""
        return self._users.delete(user_id)

    def delete_product(self, product_id: int) -> bool:
        """Delete a product and, durably, every activity with it; False when there is none."""
        return self._products.delete(product_id)

    # ----------------------------------------------------------------- activities

    def add_activity(
        self,
        user_id: int,
        product_id: int,
        score: float = 1.0,
        timestamp: object = None,
        type: str | None = None,
    ) -> dict:
        """Record that a user did something with a product, durably."""
        row = {"user_id": user_id, "product_id": product_id, "score": score}
        return self._activities.add([row | {"timestamp": timestamp, "type": type}])[0]

    def add_activities(self, rows: list[dict]) -> list[dict]:
        """Record many activities at once: all or nothing, in one durable commit."""
        return self._activities.add(rows)

    def list_activities(
        self,
        after: int = 0,
        limit: int = 1000,
        user_id: int | None = None,
        product_id: int | None = None,
        type: str | None = None,
    ) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending, optionally filtered."""
        return self._activities.page(after, limit, user_id, product_id, type)

    def user_history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids, scores) of a user's live activities, oldest first."""
        return self._activities.history(user_id)

    def user_activity(self, user_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(product ids, scores, types) of a user's live activities, oldest first."""
        return self._activities.activity(user_id)

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed."""
        return self._activities.history_version(user_id)

    def product_counts(self) -> pd.DataFrame:
        """Per product with live activities: product_id, count, score_sum; ascending id."""
        return self._activities.product_counts()

    def product_categories(self) -> dict[int, str]:
        """{product id: category} of live products that have a category."""
        return self._activities.product_categories()

    def product_rules(self) -> ProductRules:
        """Hidden products, expiry times and labels; the same object until products change."""
        return self._products.rules()

    # ----------------------------------------------------------------- accounts

    def create_account(self, username: str, password_hash: str) -> dict:
        """Add an API account with a new random account_id."""
        return self._accounts.create(username, password_hash)

    def get_account(self, username: str) -> dict | None:
        """{"username", "password_hash", "created_at", "token_version", "account_id"} or None."""
        return self._accounts.get(username)

    def list_accounts(self) -> list[dict]:
        """Every account, ordered by username."""
        return self._accounts.list()

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace an account's password hash and bump its token_version (revoking tokens)."""
        return self._accounts.set_password(username, password_hash)

    def delete_account(self, username: str) -> bool:
        """Remove an account; False when there is none."""
        return self._accounts.delete(username)


__all__ = ["StoreFacade"]
