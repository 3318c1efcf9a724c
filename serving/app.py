"""Application factory: `create_app` builds the app from named steps."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from discerner import config


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the API app.

    Args:
        test_config: Settings that override the defaults (tests pass `DISCERNER_HOME` here).

    Returns:
        The configured Flask app.
    """
    app = Flask(__name__)
    app.config.from_mapping(DISCERNER_HOME=str(config.home()))
    if test_config:
        app.config.from_mapping(test_config)
    register_blueprints(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Attach the resources."""

    @app.get("/health")
    def health():
        return jsonify(status="ok")
