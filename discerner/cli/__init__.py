"""The `discerner` command line: one entry point, a subcommand per task.

Each subcommand lives in a module of this package and is a thin layer over the library; heavy
imports (pandas, mlflow) happen inside the commands so that `discerner --help` stays fast.
"""

from __future__ import annotations

import logging

import click

from discerner import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="discerner")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Discerner: a self-hosted recommendation service.

    All state lives in DISCERNER_HOME (default ./discerner-data).
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Each module registers its subcommands on `main`; one import line per module.
from discerner.cli import data, demo, serving, training  # noqa: E402

__all__ = ["data", "demo", "main", "serving", "training"]
