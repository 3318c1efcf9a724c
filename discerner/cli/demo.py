"""`discerner demo`: prepare a data folder so a first `discerner serve` has something to show.

Each step runs only when it is still needed, so `make serve` can call this every time: load
generated demo data when the store is empty, create an account when there is none, and train and
register a champion when none exists.

The account: when the server will listen on loopback only (`--url http://127.0.0.1:…`, the
default of `make serve`), it is the README's own `alice` / `s3cret-pass`, so that every example
of the README runs as written; nobody else can reach a loopback server. For any other address
the account is `demo` with a random password, and a server still carrying the README's public
password is refused until that password is changed.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import click

from discerner import config
from discerner.cli import main

DEMO_USERNAME = "demo"
# The account of the README's examples, created only for a server on loopback.
README_USERNAME = "alice"
README_PASSWORD = "s3cret-pass"
CREDENTIALS_FILE = "demo-credentials.txt"
# The demo's search: a few quick families (the full grid is `discerner train`'s).
DEMO_FAMILIES = ("popularity", "pure_svd", "item_knn", "user_knn")


@main.command()
@click.option("--users", default=1000, show_default=True, help="Generated users.")
@click.option("--products", default=300, show_default=True, help="Generated products.")
@click.option("--activities", default=30_000, show_default=True, help="Generated activities.")
@click.option("--seed", default=0, show_default=True, help="Seed of the generator.")
@click.option("--train/--no-train", default=True, show_default=True, help="Train if no champion.")
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="Where it will serve."
)
def demo(users: int, products: int, activities: int, seed: int, train: bool, url: str) -> None:
    """Prepare the data folder: demo data, a demo account and a champion model, as needed."""
    from discerner.store import open_store

    root = config.ensure_home()
    click.echo(f"Data folder: {root}")
    loopback = is_loopback(url)
    with open_store(config.store_url(root)) as store:
        if store.count_activities() == 0:
            _load_demo_data(store, users, products, activities, seed)
        else:
            click.echo(f"Store: {_sizes(store)}")
        if not loopback:
            _refuse_the_public_password(store, url)
        account = _demo_account(store, root, loopback)
    if train:
        _train_if_no_champion(root)
    _print_login(root, account, url)


def is_loopback(url: str) -> bool:
    """Whether `url`'s host is a loopback address (127.0.0.0/8, ::1) or `localhost`."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _refuse_the_public_password(store, url: str) -> None:
    """Stop when the README's account still has the README's password and others can connect."""
    from discerner.security import verify_password

    for account in store.list_accounts():
        if account["username"] == README_USERNAME and verify_password(
            README_PASSWORD, account["password_hash"]
        ):
            raise click.ClickException(
                f"{url} is reachable from other machines, and the account {README_USERNAME!r} "
                "still has the README's public password. Change it first:\n"
                f"  discerner accounts set-password {README_USERNAME} --password-stdin\n"
                f"or delete it: discerner accounts delete {README_USERNAME}"
            )


def _sizes(store) -> str:
    return (
        f"{store.count_users():,} users, {store.count_products():,} products, "
        f"{store.count_activities():,} activities"
    )


def _load_demo_data(store, users: int, products: int, activities: int, seed: int) -> None:
    """Products first (names and categories, ids 1..n), then the activities by bulk import."""
    from tqdm import tqdm

    from discerner.datasets import generate

    data = generate(users, products, activities, seed=seed)
    if store.count_products() == 0:
        rows = data.products.itertuples(index=False)
        for row in tqdm(rows, total=len(data.products), desc="products", unit="product"):
            store.create_product(
                external_id=f"demo-{row.id}",
                attributes={"name": row.name, "category": row.category},
            )
    store.import_interactions(data.activities)
    click.echo(f"Loaded generated demo data: {_sizes(store)}")


def _demo_account(store, root: Path, loopback: bool) -> tuple[str, str] | None:
    """Create an account when the store has none; return its (username, password).

    On loopback it is the README's `alice`, else `demo` with a random password.
    """
    from discerner.security import hash_password

    if store.list_accounts():
        return None
    if loopback:
        username, password = README_USERNAME, README_PASSWORD
    else:
        username, password = DEMO_USERNAME, secrets.token_urlsafe(12)
    store.create_account(username, hash_password(password))
    path = root / CREDENTIALS_FILE
    path.touch(mode=0o600)
    path.write_text(f"username: {username}\npassword: {password}\n")
    return username, password


def _train_if_no_champion(root: Path) -> None:
    from discerner import tracking
    from discerner.tracking import registry
    from discerner.training import TrainSettings, train

    tracking.setup(root)
    current = registry.champion()
    if current is not None:
        click.echo(f"Champion: {current.name} version {current.version}")
        return
    click.echo("No champion model yet: training one (about 15 seconds) ...")
    outcome = train(TrainSettings(home=root, families=DEMO_FAMILIES))
    click.echo(outcome.summary())


def _print_login(root: Path, account: tuple[str, str] | None, url: str) -> None:
    credentials = root / CREDENTIALS_FILE
    username, password = account or (None, "...")
    if account is not None:
        click.echo(f"\nAccount: username {username!r}, password {password!r}")
        click.echo(f"(kept in {credentials}, readable by you only)")
    elif credentials.exists():
        click.echo(f"\nThe first account's credentials are in {credentials}")
        username = dict(
            line.split(": ", 1) for line in credentials.read_text().splitlines() if ": " in line
        ).get("username")
    click.echo(
        "More accounts: echo PASSWORD | discerner accounts create NAME --password-stdin\n"
        f"Get a token:   curl -s -d username={username or 'NAME'} -d password={password} "
        f"{url}/token\n"
        f"API reference: {url}/docs"
    )
