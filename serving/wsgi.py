"""Run the app under gunicorn, the production WSGI server (threads in one process)."""

from __future__ import annotations

from pathlib import Path

from gunicorn.app.base import BaseApplication

from serving.app import create_app


class _Server(BaseApplication):
    def __init__(self, app, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def run(home: Path, host: str, port: int, threads: int = 8) -> None:
    """Serve the API until SIGTERM or SIGINT; in-flight requests finish first."""
    app = create_app({"DISCERNER_HOME": str(home)})
    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": "-",
        "graceful_timeout": 30,
        "control_socket_disable": True,
    }
    _Server(app, options).run()
