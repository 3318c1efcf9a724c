"""Password hashing with salted scrypt (stdlib `hashlib.scrypt`) and constant-time checks.

A hash string records everything needed to check it later, so the cost can be raised without
invalidating stored hashes: `scrypt$n=16384,r=8,p=1$<salt, base64>$<key, base64>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

logger = logging.getLogger(__name__)

ALGORITHM = "scrypt"
N, R, P = 1 << 14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
MAX_PASSWORD_BYTES = 1024


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """Hash a password with a fresh random salt.

    Args:
        password: The password (non-empty, at most 1024 bytes in UTF-8).
        n: scrypt CPU/memory cost (a power of two).
        r: scrypt block size.
        p: scrypt parallelism.

    Returns:
        The self-describing hash string.

    Raises:
        ValueError: The password is empty or too long.
    """
    secret = _encode(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(secret, salt, n, r, p, KEY_BYTES)
    return f"{ALGORITHM}$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches the hash string; False for a malformed hash.

    The comparison takes the same time wherever the keys differ.
    """
    try:
        n, r, p, salt, expected = _parse(encoded)
        secret = _encode(password)
    except ValueError:
        return False
    return hmac.compare_digest(_derive(secret, salt, n, r, p, len(expected)), expected)


def needs_rehash(encoded: str) -> bool:
    """Whether the hash was made with other parameters than today's defaults."""
    try:
        n, r, p, _, _ = _parse(encoded)
    except ValueError:
        return True
    return (n, r, p) != (N, R, P)


def _encode(password: str) -> bytes:
    if not isinstance(password, str) or not password:
        raise ValueError("the password must not be empty")
    secret = password.encode()
    if len(secret) > MAX_PASSWORD_BYTES:
        raise ValueError(f"the password must be at most {MAX_PASSWORD_BYTES} bytes")
    return secret


def _derive(secret: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # scrypt needs 128·r·n·p bytes; allow that plus headroom over OpenSSL's 32 MiB default.
    maxmem = 128 * r * n * p + (1 << 20)
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=maxmem)


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        algorithm, params, salt, key = encoded.split("$")
        settings = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(settings["n"]), int(settings["r"]), int(settings["p"])
        raw_salt = base64.b64decode(salt, validate=True)
        raw_key = base64.b64decode(key, validate=True)
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        raise ValueError("malformed password hash") from exc
    bounded = 1 < n <= 1 << 20 and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16
    if algorithm != ALGORITHM or not bounded or not raw_key:
        raise ValueError("unsupported password hash")
    return n, r, p, raw_salt, raw_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
