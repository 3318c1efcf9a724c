"""API accounts in their own small Parquet file, shared safely between processes.

`accounts.parquet` is rewritten whole (temp file, fsync, rename) under an exclusive `flock` on
`accounts.lock`, so the CLI can change accounts while the server holds the store's writer lock.
Readers re-read the file only when its inode, size or modification time changed: one `stat`
per look-up, so a new account can log in at once without a restart.

Each account has a random `account_id`, given when it is created and never reused: tokens name it,
so deleting an account and creating one of the same name does not bring the old tokens back.
Accounts created before account ids existed read with an empty one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from discerner.errors import AccountExistsError, StoreReadOnlyError
from discerner.store.files import fsync_dir, replace_atomically
from discerner.store.tables import iso_utc, now_micros, parse_iso_micros

logger = logging.getLogger(__name__)

ACCOUNTS_FILE = "accounts.parquet"
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
SCHEMA = pa.schema(
    [
        ("username", pa.string()),
        ("password_hash", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("token_version", pa.int64()),
        ("account_id", pa.string()),
    ]
)


def check_username(username: str) -> str:
    """Return `username` when it is 1–64 characters of [A-Za-z0-9_.@-].

    Raises:
        ValueError: It is not.
    """
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ValueError(
            f"invalid username {username!r}: use 1-64 characters of letters, digits, _ . @ -"
        )
    return username


class AccountBook:
    """The accounts of one store folder; safe across threads and processes."""

    def __init__(self, folder: Path, readonly: bool = False):
        self.folder = Path(folder)
        self.path = self.folder / ACCOUNTS_FILE
        self.readonly = readonly
        self._cache: tuple[tuple | None, dict[str, dict]] = (None, {})  # (file key, accounts)
        self._lock = threading.Lock()

    def get(self, username: str) -> dict | None:
        """The account named `username` or None."""
        account = self._current().get(username)
        return dict(account) if account else None

    def list(self) -> list[dict]:
        """Every account, ordered by username."""
        accounts = self._current()
        return [dict(accounts[name]) for name in sorted(accounts)]

    def create(self, username: str, password_hash: str) -> dict:
        """Add an account.

        Raises:
            AccountExistsError: The username is taken.
            ValueError: The username breaks the rules of `check_username`.
        """
        check_username(username)
        with self._editing() as accounts:
            if username in accounts:
                raise AccountExistsError(f"account {username!r} already exists")
            accounts[username] = {
                "username": username,
                "password_hash": password_hash,
                "created_at": iso_utc(now_micros()),
                "token_version": 0,
                "account_id": secrets.token_hex(16),
            }
            return dict(accounts[username])

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace the password hash and bump token_version; False when there is no account."""
        with self._editing() as accounts:
            account = accounts.get(username)
            if account is None:
                return False
            account["password_hash"] = password_hash
            account["token_version"] += 1
            return True

    def delete(self, username: str) -> bool:
        """Remove an account; False when there is none."""
        with self._editing() as accounts:
            return accounts.pop(username, None) is not None

    def _current(self) -> dict[str, dict]:
        # The stat runs outside the lock: every request's token check comes here, and a lock
        # held across a system call makes the request threads queue behind each other.
        try:
            st = os.stat(self.path)
            key: tuple | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            key = None
        seen, accounts = self._cache
        if key == seen:
            return accounts
        with self._lock:
            if key != self._cache[0]:
                self._cache = (key, _read(self.path) if key is not None else {})
            return self._cache[1]

    @contextmanager
    def _editing(self):
        """Yield a fresh copy of the accounts under the file lock, then write it back."""
        if self.readonly:
            raise StoreReadOnlyError("the store is open read-only")
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fsync_dir(self.folder.parent)  # or a crash could lose the folder with the file in it
        with open(self.folder / "accounts.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            accounts = _read(self.path) if self.path.exists() else {}
            before = {k: dict(v) for k, v in accounts.items()}
            yield accounts
            if accounts != before:
                replace_atomically(self.path, lambda temp: _write(temp, accounts))
                logger.info("accounts file %s rewritten (%d accounts)", self.path, len(accounts))


def _read(path: Path) -> dict[str, dict]:
    table = pq.read_table(path)
    if "account_id" not in table.column_names:  # written before account ids existed
        table = table.append_column("account_id", pa.array([""] * table.num_rows, pa.string()))
    created = table.column("created_at").cast(pa.int64()).to_pylist()
    return {
        row["username"]: row | {"created_at": iso_utc(micros)}
        for row, micros in zip(table.drop_columns(["created_at"]).to_pylist(), created, strict=True)
    }


def _write(path: Path, accounts: dict[str, dict]) -> None:
    rows = [accounts[name] for name in sorted(accounts)]
    created = [parse_iso_micros(r["created_at"]) for r in rows]
    table = pa.table(
        {
            "username": pa.array([r["username"] for r in rows], pa.string()),
            "password_hash": pa.array([r["password_hash"] for r in rows], pa.string()),
            "created_at": pa.array(created, pa.int64()).cast(SCHEMA.field("created_at").type),
            "token_version": pa.array([r["token_version"] for r in rows], pa.int64()),
            "account_id": pa.array([r["account_id"] for r in rows], pa.string()),
        },
        schema=SCHEMA,
    )
    pq.write_table(table, path)
    os.chmod(path, 0o600)  # password hashes: readable by the owner only
