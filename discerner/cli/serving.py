"""`discerner serve`: run the HTTP API with a production WSGI server."""

from __future__ import annotations

import click

from discerner import config
from discerner.cli import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1), help="Request threads."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Worker processes, each with its threads (more than one needs PostgreSQL).",
)
def serve(host: str, port: int, threads: int, workers: int) -> None:
    """Serve the HTTP API with gunicorn (worker processes, each with a pool of threads).

    The store is DISCERNER_STORE (or --store) when it is a postgresql:// URL, which any
    number of workers and hosts share; else the embedded store in DISCERNER_HOME, which one
    process writes, so it serves with one worker.

    Settings such as DISCERNER_SECRET_KEY, DISCERNER_TOKEN_SECONDS and
    DISCERNER_MODEL_POLL_SECONDS come from the environment. The registered champion
    (DISCERNER_MODEL_NAME@DISCERNER_MODEL_ALIAS, default discerner@champion) is served once
    loaded, popularity until then. SIGHUP looks for a new champion at once; SIGTERM finishes
    in-flight requests, then closes the store.
    """
    from discerner.store.postgres import is_url

    home = config.ensure_home()
    if workers > 1 and not is_url(config.store_url(home)):
        raise click.UsageError(
            f"--workers {workers} needs a PostgreSQL store: the embedded store in {home} is"
            " written by one process only (it holds the store's writer lock), so it serves"
            " with one worker and --threads for concurrency. Set DISCERNER_STORE (or --store)"
            " to a postgresql:// URL to serve with more processes."
        )
    from serving.runtime.wsgi import run

    run(home=home, host=host, port=port, threads=threads, workers=workers)
