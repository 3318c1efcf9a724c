"""`discerner demo`: prepare a data folder so a first `discerner serve` has something to show.

Each step runs only when it is still needed, so `make serve` can call this every time: load
generated demo data when the store is empty, create a `demo` account when there is none, and
train and register a champion when none exists.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from discerner import config
from discerner.cli import main

DEMO_USERNAME = "demo"
CREDENTIALS_FILE = "demo-credentials.txt"


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
    from discerner.store import Store

    root = config.ensure_home()
    click.echo(f"Data folder: {root}")
    with Store.open(config.store_dir(root)) as store:
        if store.count_activities() == 0:
            _load_demo_data(store, users, products, activities, seed)
        else:
            click.echo(f"Store: {_sizes(store)}")
        password = _demo_account(store, root)
    if train:
        _train_if_no_champion(root)
    _print_login(root, password, url)


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


def _demo_account(store, root: Path) -> str | None:
    """Create the demo account when the store has no account; return its new password."""
    from discerner.security import hash_password

    if store.list_accounts():
        return None
    password = secrets.token_urlsafe(12)
    store.create_account(DEMO_USERNAME, hash_password(password))
    path = root / CREDENTIALS_FILE
    path.touch(mode=0o600)
    path.write_text(f"username: {DEMO_USERNAME}\npassword: {password}\n")
    return password


def _train_if_no_champion(root: Path) -> None:
    from discerner import tracking
    from discerner.tracking import registry
    from discerner.training import TrainSettings, train

    tracking.setup(root)
    current = registry.champion()
    if current is not None:
        click.echo(f"Champion: {current.name} version {current.version}")
        return
    click.echo("No champion model yet: training one (this takes a minute) ...")
    outcome = train(TrainSettings(home=root))
    click.echo(outcome.summary())


def _print_login(root: Path, password: str | None, url: str) -> None:
    credentials = root / CREDENTIALS_FILE
    if password is not None:
        click.echo(f"\nDemo account: username {DEMO_USERNAME!r}, password {password!r}")
        click.echo(f"(kept in {credentials}, readable by you only)")
    elif credentials.exists():
        click.echo(f"\nDemo credentials are in {credentials}")
    click.echo(
        "More accounts: echo PASSWORD | discerner accounts create NAME --password-stdin\n"
        f"Get a token:   curl -s -d username={DEMO_USERNAME} -d password=... {url}/token\n"
        f"API reference: {url}/docs"
    )
