"""`discerner demo` prepares a data folder once and is a no-op after."""

import pytest
from click.testing import CliRunner

from discerner import config
from discerner.cli import main
from discerner.cli.demo import is_loopback
from discerner.datasets import SHOP
from discerner.security import verify_password
from discerner.store import Store

SMALL = ["--users", "30", "--products", "12", "--activities", "200", "--no-train"]


def _credentials(home):
    text = (home / "demo-credentials.txt").read_text()
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_demo_loads_data_and_creates_the_readme_account_once_on_loopback(home):
    runner = CliRunner()
    first = runner.invoke(main, ["demo", *SMALL])
    assert first.exit_code == 0, first.output
    assert "Loaded generated demo data: 30 users, 12 products, 200 activities" in first.output
    assert "username 'alice', password 's3cret-pass'" in first.output
    assert _credentials(home) == {"username": "alice", "password": "s3cret-pass"}
    assert (home / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600

    second = runner.invoke(main, ["demo", *SMALL])
    assert second.exit_code == 0, second.output
    assert "Loaded generated" not in second.output
    with Store.open(config.store_dir(home), readonly=True) as store:
        assert store.count_activities() == 200
        product = store.get_product(1)
        assert product["category"] in SHOP  # books, music, games, garden, kitchen, …
        assert product["name"][0].isupper()
        (account,) = store.list_accounts()
        assert account["username"] == "alice"
        assert verify_password("s3cret-pass", account["password_hash"])


def test_demo_for_other_addresses_creates_a_random_password(home):
    done = CliRunner().invoke(main, ["demo", *SMALL, "--url", "http://0.0.0.0:9000"])
    assert done.exit_code == 0, done.output
    credentials = _credentials(home)
    assert credentials["username"] == "demo"
    assert len(credentials["password"]) >= 16 and credentials["password"] != "s3cret-pass"


def test_demo_refuses_the_readme_password_beyond_loopback(home):
    runner = CliRunner()
    assert runner.invoke(main, ["demo", *SMALL]).exit_code == 0  # alice / s3cret-pass
    refused = runner.invoke(main, ["demo", *SMALL, "--url", "http://0.0.0.0:8000"])
    assert refused.exit_code != 0
    assert "README's public password" in refused.output
    assert "discerner accounts set-password alice" in refused.output
    changed = runner.invoke(
        main, ["accounts", "set-password", "alice", "--password-stdin"], input="another-one\n"
    )
    assert changed.exit_code == 0, changed.output
    assert runner.invoke(main, ["demo", *SMALL, "--url", "http://0.0.0.0:8000"]).exit_code == 0


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.1.2.3:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://0.0.0.0:8000", False),
        ("http://192.168.1.5:8000", False),
        ("http://example.com", False),
    ],
)
def test_is_loopback(url, loopback):
    assert is_loopback(url) is loopback
