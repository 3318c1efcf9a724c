"""Choosing the backend: `config.store_url` and `open_store` (a folder, or a postgresql:// URL)."""

import pytest

from discerner import config
from discerner.store import Store, StoreError, open_store
from discerner.store.postgres import PostgresStore, is_url


def test_store_url_is_the_embedded_folder_unless_discerner_store_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("DISCERNER_STORE", raising=False)
    assert config.store_url(tmp_path) == config.store_dir(tmp_path)
    monkeypatch.setenv("DISCERNER_STORE", "postgresql://db.example/discerner")
    assert config.store_url(tmp_path) == "postgresql://db.example/discerner"


def test_open_store_picks_the_backend_by_location(tmp_path, postgres_store_url):
    with open_store(tmp_path / "store") as embedded:
        assert isinstance(embedded, Store)
    url = postgres_store_url()
    assert is_url(url) and not is_url(str(tmp_path))
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        store.create_user()
    with open_store(url, readonly=True) as reader:
        assert reader.count_users() == 1


def test_a_reader_refuses_a_database_without_the_store(postgres_database):
    with pytest.raises(StoreError, match="open it for writing once"):
        open_store(postgres_database, readonly=True)
