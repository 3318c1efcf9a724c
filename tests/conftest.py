"""Shared fixtures; telemetry is turned off before anything can import mlflow."""

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

from pathlib import Path

import live
import pytest
from postgres import (  # noqa: F401 (fixtures)
    postgres_database,
    postgres_server,
    postgres_store_template,
    postgres_store_url,
    postgres_url,
)

MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh DISCERNER_HOME for one test."""
    folder = tmp_path / "home"
    monkeypatch.setenv("DISCERNER_HOME", str(folder))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return folder


@pytest.fixture
def movielens_dir():
    """The MovieLens 100k folder; tests that need it skip when it is absent."""
    if not (MOVIELENS / "u.data").exists():
        pytest.skip("MovieLens 100k is not in ../shared/data/ml-100k")
    return MOVIELENS


@pytest.fixture
def wait_until():
    """`wait_until(condition, timeout=30)`: poll until true, else fail the test."""
    return live.wait_until


@pytest.fixture
def new_server(tmp_path):
    """A function starting a `LiveServer` on a data folder (default: a fresh one), stopped after."""
    started: list[live.LiveServer] = []

    def start(home: Path | None = None, **env: str) -> live.LiveServer:
        home = home or tmp_path / f"home{len(started)}"
        started.append(live.LiveServer(home, **env).start())
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop()


@pytest.fixture
def fsynced_folders(monkeypatch):
    """The folders fsynced while the test runs (folders are opened with O_DIRECTORY to fsync)."""
    opened: dict[int, str] = {}
    synced: list[str] = []
    real_open, real_fsync = os.open, os.fsync

    def open_(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if flags & os.O_DIRECTORY:
            opened[fd] = os.fspath(path)
        return fd

    def fsync(fd):
        if fd in opened:
            synced.append(opened[fd])
        return real_fsync(fd)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "fsync", fsync)
    return synced
