"""Authentication: the JWT setup, `POST /token`, login throttling and the signing secret."""

from __future__ import annotations

import functools
import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Flask, Response, request
from flask_jwt_extended import JWTManager, create_access_token
from werkzeug.middleware.proxy_fix import ProxyFix

from discerner.security import hash_password, verify_password
from discerner.store.files import replace_atomically
from serving.api.errors import ApiError, error_response
from serving.api.schemas import Credentials, Token
from serving.api.spec import endpoint
from serving.runtime.state import services
from serving.runtime.throttle import address_key
from serving.runtime.tokens import account_id, bearer_token, is_current

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
SECRET_FILE = "secret_key"
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # 256 bits: an HS256 key shorter than the hash output weakens it


class AuthSchemeMiddleware:
    """WSGI middleware: rewrite `Token x`, `token x` and `bearer x` to `Bearer x`.

    flask-jwt-extended matches one scheme word, case-sensitively; the API accepts both words
    in any case, so the header is normalised before the library reads it. Any other header
    is left as it is, for the library to refuse.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        if token is not None:
            environ["HTTP_AUTHORIZATION"] = "Bearer " + token
        return self.wsgi_app(environ, start_response)


def load_secret_key(home: Path) -> str:
    """Read the signing secret kept in the data folder, creating it (mode 0600) the first time.

    A new secret appears whole or not at all (temp file, fsync, rename, fsync of the folder).
    An empty file, which older versions could leave after a crash, is replaced: an empty key
    never signed a token, so no token is revoked by replacing it. The store's writer lock,
    taken before this runs, keeps two servers from creating secrets at the same time.

    Args:
        home: The data folder.

    Returns:
        The secret, the same across restarts so tokens survive them.
    """
    path = home / SECRET_FILE
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if secret:
        if path.stat().st_mode & 0o077:
            logger.warning("%s is readable by other users; `chmod 600` it", path)
        return secret
    secret = secrets.token_hex(32)
    replace_atomically(path, lambda temp: _write_private(temp, secret))
    logger.info("generated a new signing secret in %s", path)
    return secret


def _write_private(path: Path, text: str) -> None:
    # Created owner-only, so the secret is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(descriptor, 0o600)  # a stale temp file keeps its own mode under O_CREAT
        handle.write(text)


def check_secret(secret: str, source: str) -> str:
    """Return `secret` if it is long enough to sign HS256 tokens.

    Args:
        secret: The signing secret.
        source: Where it came from, for the error message (never the secret itself).

    Raises:
        ValueError: The secret is shorter than 32 bytes (256 bits).
    """
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        raise ValueError(
            f"the token signing secret from {source} has {size} bytes; at least"
            f" {MIN_SECRET_BYTES} (256 bits) are needed. Make one with"
            " `python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return secret


def init_auth(app: Flask, home: Path, store: object = None) -> JWTManager:
    """Configure flask-jwt-extended so every token failure is the API's own 401 JSON.

    The signing secret is `DISCERNER_SECRET_KEY`, else the store's shared one when it keeps
    one (PostgreSQL: every server on the database signs and accepts the same tokens), else
    the data folder's `secret_key` file.

    Raises:
        ValueError: The configured or stored secret is shorter than 256 bits.
    """
    if app.config.get("DISCERNER_SECRET_KEY"):
        secret = check_secret(app.config["DISCERNER_SECRET_KEY"], "DISCERNER_SECRET_KEY")
    elif hasattr(store, "signing_secret"):
        shared = store.signing_secret(lambda: secrets.token_hex(32))
        secret = check_secret(shared, "the store's server_secrets table")
    else:
        secret = check_secret(load_secret_key(home), str(home / SECRET_FILE))
    app.config.update(
        JWT_SECRET_KEY=secret,
        JWT_ALGORITHM=ALGORITHM,
        JWT_DECODE_ALGORITHMS=[ALGORITHM],  # never `none`, never whatever a token's header says
        JWT_TOKEN_LOCATION=["headers"],
        JWT_HEADER_TYPE="Bearer",
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=app.config["DISCERNER_TOKEN_SECONDS"]),
    )
    app.wsgi_app = AuthSchemeMiddleware(app.wsgi_app)
    trust_proxies(app, int(app.config.get("DISCERNER_TRUSTED_PROXIES", 0)))
    jwt = JWTManager(app)
    jwt.token_in_blocklist_loader(_is_revoked)
    jwt.unauthorized_loader(lambda reason: _unauthorized("missing or malformed Authorization"))
    jwt.invalid_token_loader(lambda reason: _unauthorized("invalid token"))
    jwt.expired_token_loader(lambda header, payload: _unauthorized("token has expired"))
    jwt.revoked_token_loader(lambda header, payload: _unauthorized("token has been revoked"))
    jwt.user_lookup_error_loader(lambda header, payload: _unauthorized("unknown account"))
    jwt.token_verification_failed_loader(lambda header, payload: _unauthorized("invalid token"))
    jwt.needs_fresh_token_loader(lambda header, payload: _unauthorized("invalid token"))
    return jwt


def trust_proxies(app: Flask, hops: int) -> None:
    """Take the client's address and scheme from `hops` reverse proxies' X-Forwarded-* headers.

    Behind a TLS-terminating proxy every request comes from the proxy's address, so the
    per-address login limit would count all clients as one. With `hops` = 0 (the default) the
    headers are ignored: a client connecting directly cannot pick its own address.

    Args:
        app: The app to wrap.
        hops: How many proxies in front of the server append to X-Forwarded-For.
    """
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
        logger.info("trusting X-Forwarded-* from %d proxy hop(s)", hops)


def _unauthorized(message: str) -> Response:
    error = ApiError.unauthorized(message)
    return error_response(error.status, error.message, error.headers)


def _is_revoked(header: dict, payload: dict) -> bool:
    # A changed password bumps token_version; a deleted account has none; a new account of the
    # same name has another account_id: all three revoke.
    return not is_current(payload["sub"], payload.get("ver"), account_id(payload))


@bp.post("/token")
@endpoint(
    "Exchange a username and password (form fields or JSON) for a token",
    tag="auth",
    body=Credentials,
    form=True,
    auth=False,
    responses={200: ("A token and its lifetime in seconds", Token)},
)
def token(body: Credentials):
    keys = (f"user:{body.username}", address_key(request.remote_addr))
    throttle = services().throttle
    with throttle.attempt(keys) as wait:  # the 401 raised inside counts as a failure
        if wait is not None:
            raise ApiError.too_many_requests(wait)
        account = services().store.get_account(body.username)
        if not _password_matches(account, body.password):
            raise ApiError.unauthorized("wrong username or password")
    throttle.succeeded(keys[0])
    claims = {"ver": account["token_version"], "aid": account["account_id"]}
    issued = create_access_token(identity=account["username"], additional_claims=claims)
    return {"token": issued, "expires_in": services().token_seconds}


def _password_matches(account: dict | None, password: str) -> bool:
    if account is None:
        # Spend the same time as a real check, so a wrong username looks like a wrong password.
        verify_password(password, _decoy_hash())
        return False
    return verify_password(password, account["password_hash"])


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_hex(16))
