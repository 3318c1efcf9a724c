"""API accounts in PostgreSQL: every process sees a change at its next look-up."""

from __future__ import annotations

import secrets

import psycopg

from discerner.errors import AccountExistsError, StoreError
from discerner.store.accounts import check_username
from discerner.store.postgres.database import Database, iso, to_datetime
from discerner.store.tables import now_micros

_COLUMNS = "username, password_hash, created_at, token_version, account_id"


class Accounts:
    """The accounts table of a PostgreSQL store (the embedded store's `AccountBook` face)."""

    def __init__(self, db: Database):
        self.db = db

    def create(self, username: str, password_hash: str) -> dict:
        """Add an account with a new random account_id.

        Raises:
            AccountExistsError: The username is taken.
            ValueError: The username breaks the rules of `check_username`.
        """
        check_username(username)
        account = (username, password_hash, to_datetime(now_micros()), 0, secrets.token_hex(16))
        try:
            with self.db.writing(counted=False) as conn:
                conn.execute(
                    f"INSERT INTO accounts ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s)", account
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise AccountExistsError(f"account {username!r} already exists") from None
            raise
        return _record(account)

    def get(self, username: str) -> dict | None:
        """The account named `username` or None."""
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE username = %s", (username,))
            found = row.fetchone()
        return None if found is None else _record(found)

    def list(self) -> list[dict]:
        """Every account, ordered by username."""
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY username").fetchall()
        return [_record(row) for row in rows]

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace the password hash and bump token_version; False when there is no account."""
        query = (
            "UPDATE accounts SET password_hash = %s, token_version = token_version + 1"
            " WHERE username = %s"
        )
        with self.db.writing(counted=False) as conn:
            return conn.execute(query, (password_hash, username)).rowcount == 1

    def delete(self, username: str) -> bool:
        """Remove an account; False when there is none."""
        with self.db.writing(counted=False) as conn:
            return (
                conn.execute("DELETE FROM accounts WHERE username = %s", (username,)).rowcount == 1
            )


def _record(row) -> dict:
    username, password_hash, created, token_version, account_id = row
    return {
        "username": username,
        "password_hash": password_hash,
        "created_at": iso(created),
        "token_version": token_version,
        "account_id": account_id,
    }
