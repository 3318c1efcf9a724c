"""The `discerner` command line: one entry point, a subcommand per task.

Each subcommand lives in a module of this package and is a thin layer over the library; heavy
imports (pandas, mlflow) happen inside the commands so that `discerner --help` stays fast.
"""

from __future__ import annotations

import logging
import os

import click

from discerner import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="discerner")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.option(
    "--store",
    metavar="URL",
    help="The store: a postgresql:// URL (sets DISCERNER_STORE); default: the embedded store "
    "in DISCERNER_HOME.",
)
def main(verbose: bool, store: str | None) -> None:
    """Discerner: a self-hosted recommendation service.

    All state lives in DISCERNER_HOME (default ./discerner-data), or, with DISCERNER_STORE
    (or --store) set to a postgresql:// URL, the data in PostgreSQL and the models in MLflow.
    """
    if store:
        os.environ["DISCERNER_STORE"] = store  # every command reads it via config.store_url
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Each module registers its subcommands on `main`; one import line per module.
from discerner.cli import data, demo, experiment, feedback, serving, training  # noqa: E402

__all__ = ["data", "demo", "experiment", "feedback", "main", "serving", "training"]
