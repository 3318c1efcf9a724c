"""`discerner import`, `export` and `accounts …`: data in and out of the store."""

from __future__ import annotations

import sys

import click

from discerner import config
from discerner.cli import main

# The store has one writer: while the server runs, it is that writer.
IMPORT_WHILE_SERVING = (
    "cannot import: another process is writing to the store (usually `discerner serve`). "
    "Either stop the server, import, and start it again; or send the rows to the running "
    "server as JSON through its bulk API, POST /activities (up to 10,000 activities per "
    "request, all-or-nothing)."
)


@main.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=True))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "movielens", "parquet"]),
    default="csv",
    show_default=True,
    help="csv: user_id,product_id[,score,timestamp,type] with a header; movielens: u.data or "
    "ratings.csv; parquet: the same columns.",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def import_(path: str, file_format: str, progress: bool) -> None:
    """Bulk-load interactions from PATH, keeping the file's user and product ids.

    All or nothing: a malformed row stops the import, naming its line, and nothing is kept.
    """
    from discerner.datasets import read_interactions
    from discerner.errors import DataFormatError, StoreError, StoreLockedError
    from discerner.store import open_store

    try:
        frame = read_interactions(path, format=file_format)
        with open_store(config.store_url(config.ensure_home())) as store:
            counts = store.import_interactions(frame, progress=progress)
            totals = (store.count_users(), store.count_products(), store.count_activities())
    except StoreLockedError:
        raise click.ClickException(IMPORT_WHILE_SERVING) from None
    except (DataFormatError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Imported {counts['activities']} activities "
        f"({counts['users_created']} new users, {counts['products_created']} new products). "
        f"The store now holds {totals[0]} users, {totals[1]} products, {totals[2]} activities."
    )


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
def export(directory: str) -> None:
    """Write a consistent Parquet snapshot of the store into DIRECTORY."""
    from discerner.store import open_store

    with open_store(config.store_url(config.home()), readonly=True) as store:
        version = store.export(directory)
    click.echo(
        f"Exported version {version['version']}: {version['users']} users, "
        f"{version['products']} products, {version['activities']} activities to {directory}"
    )


@main.command()
@click.argument("source")
@click.argument("destination")
def migrate(source: str, destination: str) -> None:
    """Copy a whole store from SOURCE into the empty store DESTINATION, ids kept.

    Each is a store folder or a postgresql:// URL (the database must exist; its tables are
    created). Users, products, activities and accounts are copied as one consistent picture,
    all or nothing, and the copy's counts and content hash are checked against the source.
    """
    from discerner.errors import StoreError
    from discerner.store.transfer import copy_store

    try:
        version = copy_store(source, destination)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Copied version {version['version']}: {version['users']} users, "
        f"{version['products']} products, {version['activities']} activities "
        f"(hash {version['hash']}) to {destination}"
    )


@main.group()
def accounts() -> None:
    """Manage API accounts (works while the server is running)."""


def _book():
    """The accounts of the configured store (a context manager: PostgreSQL connects)."""
    from discerner.store import open_accounts

    return open_accounts(config.store_url(config.ensure_home()))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.ClickException("the password must not be empty")
    return password


@accounts.command(name="create")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def accounts_create(name: str, password_stdin: bool) -> None:
    """Create the API account NAME (1-64 characters of letters, digits, _ . @ -)."""
    from discerner.errors import AccountExistsError
    from discerner.security import hash_password
    from discerner.store import check_username

    try:
        check_username(name)
        password = hash_password(_password(password_stdin))
        with _book() as book:
            book.create(name, password)
    except (AccountExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created account {name}")


@accounts.command(name="list")
def accounts_list() -> None:
    """List the API accounts."""
    with _book() as book:
        found = book.list()
    for account in found:
        click.echo(f"{account['username']}\t{account['created_at']}")


@accounts.command(name="delete")
@click.argument("name")
def accounts_delete(name: str) -> None:
    """Delete the API account NAME."""
    with _book() as book:
        deleted = book.delete(name)
    if not deleted:
        raise click.ClickException(f"no account named {name!r}")
    click.echo(f"Deleted account {name}")


@accounts.command(name="set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def accounts_set_password(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; tokens issued before stop working."""
    from discerner.security import hash_password

    with _book() as book:
        if book.get(name) is None:
            raise click.ClickException(f"no account named {name!r}")
        try:
            changed = book.set_password(name, hash_password(_password(password_stdin)))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if not changed:
        raise click.ClickException(f"no account named {name!r}")
    click.echo(f"Password of {name} changed")
