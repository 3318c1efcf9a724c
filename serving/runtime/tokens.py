"""Token checks on every request, with a cache of tokens whose signature is already verified."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from flask import request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from serving.api.errors import ApiError
from serving.runtime.state import services

SCHEMES = ("token", "bearer")  # the Authorization schemes accepted, in any case


class Verified(NamedTuple):
    """What a verified token says: when it expires, whose it is, its token_version."""

    expires: float
    username: str
    version: int
    account_id: str = ""


class TokenCache:
    """Recently verified tokens, so a client reusing its token skips the signature check.

    Keys are exact token strings that passed flask-jwt-extended's full verification with this
    app's secret; a hit still checks expiry and the account's token_version (revocation) on
    every use. Decoding a JWT costs more than the rest of a small request, which is why this
    exists.

    Accounts are looked up on every use, or, with `account_seconds` > 0, kept that long: on a
    database store (PostgreSQL) that saves a query per request, and a password change or a
    deleted account on any host then revokes the account's tokens here within that time.

    Args:
        size: Tokens kept at most (least recently used go first).
        account_seconds: How long an account's token_version and account_id are reused
            (0: read on every request).
    """

    def __init__(self, size: int = 10_000, account_seconds: float = 0.0):
        self.size = size
        self.account_seconds = account_seconds
        self._tokens: OrderedDict[str, Verified] = OrderedDict()
        self._accounts: dict[str, tuple[float, tuple | None]] = {}
        self._lock = threading.Lock()

    def account(self, username: str, load: Callable[[str], dict | None]) -> tuple | None:
        """(token_version, account_id) of an account (None when there is none), from `load`
        or from a look-up at most `account_seconds` old."""
        now = time.monotonic()
        if self.account_seconds > 0:
            found = self._accounts.get(username)
            if found is not None and found[0] > now:
                return found[1]
        account = load(username)
        current = None if account is None else (account["token_version"], account["account_id"])
        if self.account_seconds > 0:
            if len(self._accounts) >= self.size:
                self._accounts.clear()  # memory stays bounded; the next requests look up again
            self._accounts[username] = (now + self.account_seconds, current)
        return current

    def get(self, token: str) -> Verified | None:
        """The cached claims of `token`, or None."""
        with self._lock:
            found = self._tokens.get(token)
            if found is not None:
                self._tokens.move_to_end(token)
            return found

    def put(self, token: str, verified: Verified) -> None:
        """Remember a token that passed full verification."""
        with self._lock:
            self._tokens[token] = verified
            self._tokens.move_to_end(token)
            while len(self._tokens) > self.size:
                self._tokens.popitem(last=False)

    def drop(self, token: str) -> None:
        """Forget a token (expired or revoked)."""
        with self._lock:
            self._tokens.pop(token, None)


def require_token() -> None:
    """Accept the request's token or raise the error that becomes the API's 401.

    Raises:
        flask_jwt_extended / PyJWT errors: turned into 401 JSON by the loaders in
            `serving.api.auth.init_auth`.
        ApiError: 401 for a validly signed token without an expiry.
    """
    cache = services().tokens
    token = bearer_token(request.headers.get("Authorization"))
    cached = cache.get(token) if token is not None else None
    if cached is not None:
        if cached.expires > time.time() and is_current(
            cached.username, cached.version, cached.account_id
        ):
            return
        cache.drop(token)  # the full check below says why it fails
    verify_jwt_in_request()
    claims = get_jwt()
    if not isinstance(claims.get("exp"), int | float):  # PyJWT checks exp only when present
        raise ApiError.unauthorized("invalid token")
    verified = Verified(float(claims["exp"]), claims["sub"], claims.get("ver"), account_id(claims))
    cache.put(token, verified)


def current_username() -> str:
    """The account whose token the request carries; call after `require_token` accepted it."""
    token = bearer_token(request.headers.get("Authorization"))
    cached = services().tokens.get(token) if token is not None else None
    if cached is not None:
        return cached.username
    verify_jwt_in_request()  # evicted from the cache meanwhile: read the token again
    return get_jwt()["sub"]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization` header.

    Args:
        header: The header's value, e.g. `Token eyJ...` or `bearer eyJ...`.

    Returns:
        The token after the scheme `Token` or `Bearer` (any case); None for any other scheme,
        a bare token, or more than one word after the scheme.
    """
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in SCHEMES or not token or len(token.split()) != 1:
        return None
    return token


def is_current(username: str, version: object, account: object) -> bool:
    """Whether the token's account still exists with this token_version (not revoked).

    Args:
        username: The token's subject.
        version: Its `ver` claim: the account's token_version when the token was issued.
        account: Its `aid` claim: the account_id, which a new account of the same name lacks.
    """
    current = services()
    found = current.tokens.account(username, current.store.get_account)
    return found is not None and found == (version, account)


def account_id(claims: dict) -> object:
    """The account_id a token was issued for (empty for tokens from before account ids)."""
    return claims.get("aid", "")
