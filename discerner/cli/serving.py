"""`discerner serve`: run the HTTP API with a production WSGI server."""

from __future__ import annotations

import click

from discerner import config
from discerner.cli import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads.")
def serve(host: str, port: int, threads: int) -> None:
    """Serve the HTTP API with gunicorn (one process, a pool of threads).

    Settings such as DISCERNER_SECRET_KEY, DISCERNER_TOKEN_SECONDS and
    DISCERNER_MODEL_POLL_SECONDS come from the environment. The registered champion
    (DISCERNER_MODEL_NAME@DISCERNER_MODEL_ALIAS, default discerner@champion) is served once
    loaded, popularity until then. SIGHUP looks for a new champion at once; SIGTERM finishes
    in-flight requests, then closes the store.
    """
    from serving.runtime.wsgi import run

    run(home=config.ensure_home(), host=host, port=port, threads=threads)
