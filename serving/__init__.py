"""The Flask app that serves Discerner's HTTP API.

`app.create_app` builds it from named steps; `api` holds a blueprint per resource with its
schemas and errors; `runtime` holds what runs behind them: the model holder, the gunicorn
worker, tokens, the login throttle and metrics.
"""

from serving.app import create_app

__all__ = ["create_app"]
