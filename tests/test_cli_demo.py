"""`discerner demo` prepares a data folder once and is a no-op after."""

from click.testing import CliRunner

from discerner import config
from discerner.cli import main
from discerner.datasets import SHOP
from discerner.security import verify_password
from discerner.store import Store

SMALL = ["--users", "30", "--products", "12", "--activities", "200", "--no-train"]


def _password(home):
    text = (home / "demo-credentials.txt").read_text()
    return dict(line.split(": ", 1) for line in text.splitlines())["password"]


def test_demo_loads_data_and_creates_an_account_once(home):
    runner = CliRunner()
    first = runner.invoke(main, ["demo", *SMALL])
    assert first.exit_code == 0, first.output
    assert "Loaded generated demo data: 30 users, 12 products, 200 activities" in first.output
    password = _password(home)
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
        assert verify_password(password, account["password_hash"])
