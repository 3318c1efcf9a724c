"""The Python binding of the HTTP API: `Client`, one method per endpoint, typed errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
_RENEW_MARGIN = 30.0  # seconds: renew a token this long before it expires


class ApiError(Exception):
    """The API answered with an error; `status` and `message` are the API's own.

    Args:
        status: The HTTP status code.
        message: The API's message (`error.message` of its JSON body).
        response: The response, for headers such as `Retry-After`.
    """

    def __init__(self, status: int, message: str, response: requests.Response | None = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.response = response


class BadRequest(ApiError):
    """400: the request is invalid; the message says where."""


class Unauthorized(ApiError):
    """401: wrong credentials, or a token the server does not accept."""


class Forbidden(ApiError):
    """403."""


class NotFound(ApiError):
    """404: unknown user, product or path."""


class Conflict(ApiError):
    """409: for example an external_id already taken."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class TooManyRequests(ApiError):
    """429: too many failed logins."""

    @property
    def retry_after(self) -> int | None:
        """Seconds the server asks to wait, when it says."""
        value = self.response.headers.get("Retry-After") if self.response is not None else None
        return int(value) if value and value.isdigit() else None


class ServerError(ApiError):
    """5xx: the server failed; retrying later may work."""


class ForeignLinkError(ValueError):
    """A server `Link` points to another origin; the client sends its token nowhere else."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: TooManyRequests,
}


def error_for(response: requests.Response) -> ApiError:
    """The typed error for a failed response, carrying the API's message."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.reason or "error"
    status = response.status_code
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(status, message, response)


@dataclass(frozen=True)
class RecsPage:
    """One page of recommendations (`Client.recommend_page`).

    Attributes:
        items: `[{"product_id", "score"}, ...]`, best first.
        next_cursor: Where the next page starts; None at the end of the ranking.
        restarted: The cursor's ranking had changed (a new activity, another model): this is
            the first page of the new one.
        model_version: The model that answered.
    """

    items: list[dict]
    next_cursor: str | None
    restarted: bool
    model_version: str


class Client:
    """A session with the API: logs in on first use and again when the token expires.

    Args:
        base_url: For example `http://127.0.0.1:8000`.
        username: An account created with `discerner accounts create`.
        password: Its password.
        timeout: Seconds to wait for each response.

    Example:
        >>> with Client("http://127.0.0.1:8000", "alice", "secret") as api:  # doctest: +SKIP
        ...     user = api.create_user()
        ...     api.add_activity(user, 7, score=4.5)
        ...     api.recommend(user, n=5)
    """

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self.session = requests.Session()
        self._token: str | None = None
        self._renew_at = 0.0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def login(self) -> str:
        """Get a fresh token (done automatically; call it to check credentials early).

        Returns:
            The token.

        Raises:
            Unauthorized: Wrong username or password.
            TooManyRequests: Too many failed logins recently.
        """
        credentials = {"username": self.username, "password": self._password}
        response = self.session.post(
            self.base_url + "/token", json=credentials, timeout=self.timeout
        )
        if not response.ok:
            raise error_for(response)
        body = response.json()
        self._token = body["token"]
        self._renew_at = time.monotonic() + body.get("expires_in", 3600) - _RENEW_MARGIN
        return self._token

    # Users and products
    def users(self, page_size: int = 1000) -> list[dict]:
        """Every user, ascending by id (follows pagination)."""
        return list(self.iter_pages("/users", {"limit": page_size}))

    def create_user(self, external_id: str | None = None, **attributes: Any) -> int:
        """Create a user; returns its id."""
        return self._create("/users", external_id, attributes)

    def get_user(self, user_id: int) -> dict:
        """One user's record."""
        return self._call("GET", f"/users/{user_id}").json()

    def update_user(self, user_id: int, **changes: Any) -> dict:
        """Change a user (a JSON merge patch): `external_id` or attributes; None removes one.

        Returns:
            The changed user.

        Raises:
            Conflict: Another user has the new external_id.
        """
        return self._call("PATCH", f"/users/{user_id}", json=changes).json()

    def delete_user(self, user_id: int) -> None:
        """Delete a user and their activities."""
        self._call("DELETE", f"/users/{user_id}")

    def products(self, page_size: int = 1000) -> list[dict]:
        """Every product, ascending by id (follows pagination)."""
        return list(self.iter_pages("/products", {"limit": page_size}))

    def create_product(
        self, external_id: str | None = None, category: str | None = None, **attributes: Any
    ) -> int:
        """Create a product, optionally in a category; returns its id.

        `labels` (a list), `hidden` (a bool) and `expires_at` (a datetime, ISO text or Unix
        seconds) go in `attributes` too.
        """
        if category is not None:
            attributes["category"] = category
        return self._create("/products", external_id, _with_iso_expiry(attributes))

    def update_product(self, product_id: int, **changes: Any) -> dict:
        """Change a product (a JSON merge patch): `external_id`, `category`, `labels`
        (replaced whole), `hidden`, `expires_at` or attributes; None removes or clears one.

        Example: `api.update_product(7, hidden=True)`, `api.update_product(7, expires_at=None)`.

        Returns:
            The changed product.

        Raises:
            Conflict: Another product has the new external_id.
        """
        path = f"/products/{product_id}"
        return self._call("PATCH", path, json=_with_iso_expiry(changes)).json()

    def get_product(self, product_id: int) -> dict:
        """One product's record."""
        return self._call("GET", f"/products/{product_id}").json()

    def delete_product(self, product_id: int) -> None:
        """Delete a product and its activities."""
        self._call("DELETE", f"/products/{product_id}")

    # Activities
    def activities(
        self,
        user_id: int | None = None,
        product_id: int | None = None,
        page_size: int = 1000,
        type: str | None = None,
    ) -> list[dict]:
        """Every activity, ascending by id, optionally of one user, product and/or type."""
        params = {"limit": page_size, "user_id": user_id, "product_id": product_id, "type": type}
        return list(self.iter_pages("/activities", params))

    def add_activity(
        self,
        user_id: int,
        product_id: int,
        score: float = 1.0,
        timestamp: datetime | str | None = None,
        type: str | None = None,
    ) -> dict:
        """Record that a user did something with a product; returns the stored activity.

        `type` says what they did (`"view"`, `"purchase"`); the server's default is "score".
        """
        body: dict[str, Any] = {"score": score}
        if timestamp is not None:
            body["timestamp"] = _iso(timestamp)
        if type is not None:
            body["type"] = type
        path = f"/users/{user_id}/products/{product_id}/activities"
        return self._call("POST", path, json=body).json()

    def add_activities(self, rows: Iterable[dict]) -> list[dict]:
        """Record up to 10,000 activities at once: all are stored, or none (an error).

        Args:
            rows: Dicts with `user_id`, `product_id` and optional `score`, `timestamp`, `type`.

        Returns:
            The stored activities, in order.

        Raises:
            ValueError: More than 10,000 rows (split them: each call is one all-or-nothing unit).
        """
        batch = [_with_iso_timestamp(row) for row in rows]
        if len(batch) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} activities per call, got {len(batch)}")
        return self._call("POST", "/activities", json=batch).json()

    # Recommendations
    def recommend(
        self,
        user_id: int,
        n: int = 10,
        exclude: Iterable[int] = (),
        category: str | None = None,
        *,
        offset: int = 0,
        explain: bool = False,
        labels_any: Iterable[str] = (),
        labels_all: Iterable[str] = (),
        labels_exclude: Iterable[str] = (),
    ) -> list[dict]:
        """A user's top `n` products, best first: `[{"product_id", "score"}, ...]`.

        Args:
            user_id: The user.
            n: How many (n + offset at most 1000).
            exclude: Product ids to leave out.
            category: Only products of this category.
            offset: Products of the ranking to skip (`recommend_page` follows cursors instead).
            explain: Add `because` to each product: `[{"product_id", "weight"}, ...]`, the
                user's own products that contributed most to its score.
            labels_any: Only products with at least one of these labels.
            labels_all: Only products with all of these labels.
            labels_exclude: Never products with any of these labels.
        """
        labels = _labels(labels_any, labels_all, labels_exclude)
        params = _recs_params(n, exclude, category, explain) | labels | {"offset": offset or None}
        return self._call("GET", f"/users/{user_id}/recs", params=params).json()

    def recommend_page(
        self,
        user_id: int,
        n: int = 10,
        exclude: Iterable[int] = (),
        category: str | None = None,
        *,
        cursor: str | None = None,
        explain: bool = False,
        labels_any: Iterable[str] = (),
        labels_all: Iterable[str] = (),
        labels_exclude: Iterable[str] = (),
    ) -> RecsPage:
        """One page of a user's ranking; pass its `next_cursor` back for the next page.

        Pages of one cursor chain never repeat a product while the user's history and the
        served model are unchanged; after a change the server starts the new ranking over
        (`restarted` is True on that page).

        Args:
            user_id: The user.
            n: Products per page.
            exclude: Product ids to leave out (give the same on every page).
            category: Only products of this category (the same on every page).
            cursor: The previous page's `next_cursor`; None for the first page.
            explain: Add `because` to each product (see `recommend`).
            labels_any: As for `recommend` (the same on every page), as are the next two.
            labels_all: Only products with all of these labels.
            labels_exclude: Never products with any of these labels.

        Returns:
            The RecsPage; its `next_cursor` is None at the end of the ranking.
        """
        labels = _labels(labels_any, labels_all, labels_exclude)
        params = _recs_params(n, exclude, category, explain) | labels | {"cursor": cursor}
        response = self._call("GET", f"/users/{user_id}/recs", params=params)
        return RecsPage(
            items=response.json(),
            next_cursor=response.headers.get("X-Next-Cursor"),
            restarted=response.headers.get("X-Ranking-Restarted") == "true",
            model_version=response.headers.get("X-Model-Version", ""),
        )

    def similar(self, product_id: int, n: int = 10) -> list[dict]:
        """Products similar to one product, best first."""
        return self._call("GET", f"/products/{product_id}/similar", params={"n": n}).json()

    # Operations
    def health(self) -> dict:
        """Liveness (no token needed)."""
        return self._call("GET", "/health", auth=False).json()

    def ready(self) -> dict:
        """Readiness: the store and the model being served."""
        return self._call("GET", "/ready", auth=False).json()

    def iter_pages(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        """Yield the items of a list endpoint, following `Link: rel="next"` headers.

        Raises:
            ForeignLinkError: A link points to another origin (scheme, host or port) than
                `base_url`; the token is never sent there.
        """
        url: str | None = path
        query: dict[str, Any] | None = params
        while url is not None:
            response = self._call("GET", url, params=query)
            yield from response.json()
            link = response.links.get("next", {}).get("url")
            url = urljoin(self.base_url + "/", link) if link else None
            query = None  # the next link carries the arguments

    def _create(self, path: str, external_id: str | None, attributes: dict[str, Any]) -> int:
        body = dict(attributes)
        if external_id is not None:
            body["external_id"] = external_id
        return self._call("POST", path, json=body or None).json()["id"]

    def _url(self, path: str) -> str:
        """The URL of an API path (`/users`), or an absolute URL if it is on `base_url`'s origin."""
        if not urlsplit(path).scheme:
            return self.base_url + path
        if _origin(path) != _origin(self.base_url):
            raise ForeignLinkError(f"the server linked to another origin: {path}")
        return path

    def _call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any):
        url = self._url(path)
        if "params" in kwargs and kwargs["params"] is not None:
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        response = self._send(method, url, auth, kwargs)
        if response.status_code == 401 and auth:
            # The token expired or was revoked: log in again once and retry.
            logger.debug("token refused; logging in again")
            self._token = None
            response = self._send(method, url, auth, kwargs)
        if not response.ok:
            raise error_for(response)
        return response

    def _send(self, method: str, url: str, auth: bool, kwargs: dict[str, Any]):
        headers = {"Accept": "application/json"}
        if auth:
            if self._token is None or time.monotonic() >= self._renew_at:
                self.login()
            headers["Authorization"] = f"Token {self._token}"
        return self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)


def _recs_params(
    n: int, exclude: Iterable[int], category: str | None, explain: bool
) -> dict[str, Any]:
    excluded = ",".join(str(int(pid)) for pid in exclude)
    return {
        "n": n,
        "exclude": excluded or None,
        "category": category,
        "explain": "true" if explain else None,
    }


def _labels(
    any_of: Iterable[str], all_of: Iterable[str], none_of: Iterable[str]
) -> dict[str, str | None]:
    """The label filters as the API takes them: labels separated by commas."""
    lists = {"labels_any": any_of, "labels_all": all_of, "labels_exclude": none_of}
    return {name: ",".join(labels) or None for name, labels in lists.items()}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def _with_iso_timestamp(row: dict) -> dict:
    if isinstance(row.get("timestamp"), datetime):
        return {**row, "timestamp": row["timestamp"].isoformat()}
    return dict(row)


def _with_iso_expiry(fields: dict[str, Any]) -> dict[str, Any]:
    if isinstance(fields.get("expires_at"), datetime):
        return {**fields, "expires_at": fields["expires_at"].isoformat()}
    return dict(fields)
