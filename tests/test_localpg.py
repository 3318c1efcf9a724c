"""The local PostgreSQL launcher: start, URL, restart with the data kept, stop, the CLI."""

import subprocess
import sys
import tempfile

import psycopg
import pytest
from live import free_port
from postgres import database_url

from discerner import localpg


def test_the_session_server_answers_on_its_socket(postgres_url, postgres_server):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        assert conn.info.host == str(postgres_server.folder)
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"


def test_a_fresh_database_is_empty_and_reachable_by_url(postgres_database):
    assert postgres_database.startswith("postgresql://postgres@/test_")
    with psycopg.connect(postgres_database) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)


def test_database_url_keeps_the_socket_folder():
    url = "postgresql://postgres@/postgres?host=/tmp/x&port=5433"
    assert database_url(url, "other") == "postgresql://postgres@/other?host=/tmp/x&port=5433"


@pytest.mark.slow
def test_start_stop_restart_keeps_data_and_tcp_works(postgres_server):
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="discerner-pg-") as folder:
        server = localpg.LocalPostgres(folder, port=port, settings={"fsync": "off"})
        url = server.start()
        assert url.endswith(f"?host={server.folder}&port={port}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
        assert server.start() == url  # already running: nothing to do
        server.stop()
        assert not server.running()
        server.start()
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as conn:
            assert conn.execute("SELECT x FROM kept").fetchall() == [(7,)]
        server.stop("immediate")
        assert not server.running()


def test_cli_prints_the_url_and_the_status(postgres_server):
    def cli(*args):
        command = [sys.executable, "-m", "discerner.localpg", *args]
        return subprocess.run(command, capture_output=True, text=True)

    url = cli("url", str(postgres_server.folder))
    assert url.returncode == 0 and url.stdout.strip() == postgres_server.url
    status = cli("status", str(postgres_server.folder))
    assert (status.returncode, status.stdout.strip()) == (0, "running")
    with tempfile.TemporaryDirectory() as empty:
        assert cli("status", empty).returncode == 3


def test_missing_binaries_are_a_clear_error(monkeypatch):
    monkeypatch.setattr(localpg, "_candidate_bindirs", list)
    with pytest.raises(localpg.PostgresNotFoundError, match="apt-get install -y postgresql"):
        localpg.find_bindir()
