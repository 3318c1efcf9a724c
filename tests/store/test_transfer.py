"""`discerner migrate`: embedded -> PostgreSQL -> embedded keeps everything, ids included."""

import pytest
from click.testing import CliRunner

from discerner.cli import main
from discerner.store import Store, open_store
from discerner.store.transfer import copy_store


def _fill(store):
    for i in range(4):
        store.create_user(external_id=f"u{i}", attributes={"age": 20 + i, "vip": i == 1})
    for category in ("a", "b", "c"):
        store.create_product(attributes={"category": category, "price": 1.5})
    store.update_product(1, {"labels": ["x", "y"], "hidden": True, "expires_at": 0, "price": None})
    store.add_activities(
        [
            {"user_id": 1 + i % 4, "product_id": 1 + i % 3, "score": i / 2, "timestamp": i}
            | {"type": ("score", "view", "buy:now")[i % 3]}
            for i in range(30)
        ]
    )
    store.delete_user(4)  # ids 4 and its activities' ids are gone, and never come back
    store.delete_product(3)
    store.create_account("alice", "scrypt$hash")
    store.set_password("alice", "scrypt$new")


def _everything(store) -> dict:
    return {
        "users": store.list_users(),
        "products": store.list_products(),
        "activities": store.list_activities(limit=1000),
        "accounts": store.list_accounts(),
        "version": store.data_version(),
    }


def test_round_trip_embedded_postgres_embedded(tmp_path, postgres_store_url):
    source, url, back = tmp_path / "source", postgres_store_url(), tmp_path / "back"
    with Store.open(source, compact_interval=0) as store:
        _fill(store)
        expected = _everything(store)
    result = CliRunner().invoke(main, ["migrate", str(source), url])
    assert result.exit_code == 0, result.output
    assert f"Copied version {expected['version']['version']}: 3 users" in result.output
    with open_store(url, readonly=True) as copied:
        assert _everything(copied) == expected
    assert copy_store(url, back) == expected["version"]
    for location in (url, back):
        with open_store(location) as again:
            assert _everything(again) == expected
            assert again.create_user()["id"] == 5 and again.create_product()["id"] == 4
            assert again.add_activity(1, 1)["id"] == 31
            assert again.get_account("alice")["token_version"] == 1


def test_migrating_into_a_store_with_data_changes_nothing(tmp_path, postgres_store_url):
    url = postgres_store_url()
    with Store.open(tmp_path / "source", compact_interval=0) as store:
        _fill(store)
    with open_store(url) as target:
        target.create_user()
    result = CliRunner().invoke(main, ["migrate", str(tmp_path / "source"), url])
    assert result.exit_code == 1 and "not empty" in result.output
    with open_store(url, readonly=True) as target:
        assert target.count_users() == 1 and target.count_activities() == 0
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(Exception, match="not empty"):
        copy_store(url, tmp_path / "taken")
