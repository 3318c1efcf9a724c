"""A PostgreSQL server for the test session (`discerner.localpg`), and fresh databases in it.

`tests/conftest.py` re-exports the fixtures. Without PostgreSQL binaries the tests that need
them skip, except in CI (`$CI` set), where a missing server is a failure: `.ci/run` installs it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from discerner.localpg import LocalPostgres, PostgresNotFoundError

# Tests never survive a machine crash, so the server skips fsync (CREATE DATABASE is faster).
TEST_SETTINGS = {"fsync": "off", "max_connections": "200"}
_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    """One local PostgreSQL server for the whole session, in a folder under the temp dir."""
    # Not tmp_path_factory: its folders are private to root, and the server runs as postgres.
    folder = tempfile.mkdtemp(prefix="discerner-pg-")
    try:
        server = LocalPostgres(folder, settings=TEST_SETTINGS)
    except PostgresNotFoundError as exc:
        shutil.rmtree(folder)
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL: {exc}")
        pytest.skip(f"PostgreSQL is not installed here: {exc}")
    server.start()
    yield server
    server.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """The URL of the session's server (its `postgres` database)."""
    return postgres_server.url


@pytest.fixture
def postgres_database(postgres_url):
    """A URL of a new, empty database for one test (dropped after it)."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    create_database(postgres_url, name)
    yield database_url(postgres_url, name)
    drop_database(postgres_url, name)


def database_url(url: str, name: str) -> str:
    """`url` (a postgresql:// URL) with its database replaced by `name`."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name)))


def create_database(url: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(query)


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def postgres_store_template(postgres_url):
    """A database holding the store's newest (empty) schema, to copy for each test's stores."""
    from discerner.store.postgres import schema

    name = "discerner_store_template"
    drop_database(postgres_url, name)
    create_database(postgres_url, name)
    schema.migrate(database_url(postgres_url, name))
    return name


@pytest.fixture
def postgres_store_url(postgres_url, postgres_store_template):
    """A function returning the URL of a new database with the store's tables (dropped after).

    Copying a template database takes a few milliseconds, migrating takes far longer.
    """
    created: list[str] = []

    def new() -> str:
        name = f"store_{os.getpid()}_{next(_databases)}"
        create_database(postgres_url, name, template=postgres_store_template)
        created.append(name)
        return database_url(postgres_url, name)

    yield new
    for name in created:
        drop_database(postgres_url, name)
