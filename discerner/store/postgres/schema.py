"""Creating and upgrading the PostgreSQL store's tables with Alembic (`migrations/`)."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from discerner.errors import StoreError

logger = logging.getLogger(__name__)

HEAD = "0005"  # the newest revision in migrations/versions
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK = (1684628325, 0)  # advisory lock key: one migration at a time across processes


def revision(conn: psycopg.Connection) -> str | None:
    """The database's schema revision, or None when the store's tables were never created."""
    found = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()[0]
    if not found:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema; cheap when it is there already.

    Several processes may open the same database at once: they take turns (an advisory lock)
    and only the first one migrates.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        if revision(conn) == HEAD:
            return
        conn.execute("SELECT pg_advisory_lock(%s, %s)", _LOCK)
        try:
            if revision(conn) != HEAD:
                _upgrade(url)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", _LOCK)


def check(conn: psycopg.Connection) -> None:
    """Raise `StoreError` unless the database holds the newest schema (for read-only opens)."""
    found = revision(conn)
    if found != HEAD:
        raise StoreError(
            f"the database has schema revision {found or 'none'}, this Discerner needs {HEAD}:"
            " open it for writing once (e.g. `discerner serve`) to create or upgrade it"
        )


def _upgrade(url: str, target: str = HEAD) -> None:
    # Imported here: Alembic and SQLAlchemy take a while to import and only migrations need them.
    import sqlalchemy
    from alembic import command
    from alembic.config import Config

    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=sqlalchemy.NullPool
    )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, target)
    finally:
        engine.dispose()
    logger.info("PostgreSQL store schema upgraded to revision %s", target)
