"""`discerner import`, `export` and `accounts`: exit codes, messages and what lands in the store."""

import subprocess
import sys

import pandas as pd
from click.testing import CliRunner

from discerner import config
from discerner.cli import main
from discerner.security import verify_password
from discerner.store import AccountBook, Store


def _run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def _counts(home):
    with Store.open(config.store_dir(home), readonly=True) as store:
        return store.count_users(), store.count_products(), store.count_activities()


def test_import_csv_keeps_ids_and_prints_counts(home, tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("user_id,product_id,score,timestamp\n7,3,4.0,60\n7,4,2.0,120\n9,3,1.0,0\n")
    result = _run("import", str(data), "--format", "csv", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "Imported 3 activities (2 new users, 2 new products)" in result.output
    with Store.open(config.store_dir(home), readonly=True) as store:
        assert store.user_history(7)[0].tolist() == [3, 4]
        assert store.list_users()[-1]["id"] == 9


def test_import_csv_with_a_type_column(home, tmp_path):
    data = tmp_path / "typed.csv"
    data.write_text("user_id,product_id,score,type\n1,1,1.0,view\n1,2,5.0,\n2,1,1.0,purchase\n")
    result = _run("import", str(data), "--no-progress")
    assert result.exit_code == 0, result.output
    with Store.open(config.store_dir(home), readonly=True) as store:
        # The empty type of line 3 is the default, "score".
        assert [a["type"] for a in store.list_activities()] == ["view", "score", "purchase"]
    bad = tmp_path / "bad-type.csv"
    bad.write_text("user_id,product_id,type\n1,1,view\n1,2,two words\n")
    result = _run("import", str(bad), "--no-progress")
    assert result.exit_code == 1 and "bad-type.csv, line 3: type must be" in result.output
    assert _counts(home) == (2, 2, 3)


def test_malformed_import_names_the_line_and_imports_nothing(home, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("user_id,product_id,score\n1,2,1.0\n1,x,1.0\n")
    result = _run("import", str(data), "--no-progress")
    assert result.exit_code == 1
    assert "bad.csv, line 3" in result.output
    assert _counts(home) == (0, 0, 0)


def test_import_movielens_file(home, movielens_dir):
    result = _run("import", str(movielens_dir / "u.data"), "--format", "movielens", "--no-progress")
    assert result.exit_code == 0, result.output
    assert _counts(home) == (943, 1682, 100_000)


def test_export_writes_readable_parquet(home, tmp_path):
    with Store.open(config.store_dir(config.ensure_home()), compact_interval=0) as store:
        store.create_user()
        store.create_product(attributes={"category": "c"})
        store.add_activity(1, 1, 3.0, timestamp=0)
    out = tmp_path / "out"
    result = _run("export", str(out))
    assert result.exit_code == 0, result.output
    assert "1 users, 1 products, 1 activities" in result.output
    assert pd.read_parquet(out / "activities.parquet")["score"].tolist() == [3.0]
    assert pd.read_parquet(out / "products.parquet")["category"].tolist() == ["c"]
    assert (out / "version.json").exists()


def test_accounts_lifecycle(home):
    created = _run("accounts", "create", "ada", "--password-stdin", input="s3cret\n")
    assert created.exit_code == 0, created.output
    assert _run("accounts", "create", "ada", "--password-stdin", input="x\n").exit_code == 1
    assert "ada\t" in _run("accounts", "list").output
    book = AccountBook(config.store_dir(home))
    assert verify_password("s3cret", book.get("ada")["password_hash"])
    changed = _run("accounts", "set-password", "ada", "--password-stdin", input="new\n")
    assert changed.exit_code == 0
    account = book.get("ada")
    assert verify_password("new", account["password_hash"]) and account["token_version"] == 1
    assert _run("accounts", "delete", "ada").exit_code == 0
    assert book.get("ada") is None
    assert _run("accounts", "delete", "ada").exit_code == 1


def test_accounts_create_prompts_twice_without_stdin_flag(home):
    result = _run("accounts", "create", "bob", input="pw\npw\n")
    assert result.exit_code == 0, result.output
    assert AccountBook(config.store_dir(home)).get("bob") is not None


def test_invalid_usernames_are_refused(home):
    for name in ("", "a b", "x" * 65, "semi;colon"):
        result = _run("accounts", "create", name, "--password-stdin", input="pw\n")
        assert result.exit_code != 0
    assert AccountBook(config.store_dir(home)).list() == []


def test_an_account_created_by_another_process_is_seen_by_an_open_server_store(home):
    with Store.open(config.store_dir(config.ensure_home()), compact_interval=0) as server:
        assert server.get_account("eve") is None
        result = subprocess.run(
            [sys.executable, "-m", "discerner", "accounts", "create", "eve", "--password-stdin"],
            input="pw\n",
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert server.get_account("eve")["token_version"] == 0
        server.set_password("eve", "scrypt$other")
        listed = subprocess.run(
            [sys.executable, "-m", "discerner", "accounts", "list"], capture_output=True, text=True
        )
        assert listed.stdout.startswith("eve\t")
        assert server.get_account("eve")["token_version"] == 1


def test_the_accounts_file_is_private(home):
    _run("accounts", "create", "ada", "--password-stdin", input="pw\n")
    book = AccountBook(config.store_dir(home))
    assert book.path.stat().st_mode & 0o077 == 0


def test_import_while_a_server_holds_the_store_fails_clearly_and_export_still_works(home, tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("user_id,product_id\n1,1\n")
    with Store.open(config.store_dir(config.ensure_home()), compact_interval=0) as server:
        server.create_user()
        server.create_product()
        server.add_activity(1, 1, 2.0)
        result = _run("import", str(data), "--no-progress")
        assert result.exit_code == 1
        assert "another process is writing to the store" in result.output
        assert "stop the server" in result.output and "POST /activities" in result.output
        assert "read-only" not in result.output  # not a way to import
        exported = _run("export", str(tmp_path / "out"))
        assert exported.exit_code == 0, exported.output
        assert server.count_activities() == 1
    assert pd.read_parquet(tmp_path / "out" / "activities.parquet")["score"].tolist() == [2.0]
