"""`discerner demo`: prepare a data folder so a first `discerner serve` has something to show."""

from __future__ import annotations

import click

from discerner import config
from discerner.cli import main


@main.command()
def demo() -> None:
    """Prepare the data folder for a first `discerner serve`."""
    root = config.ensure_home()
    click.echo(f"Data folder: {root}")
