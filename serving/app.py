"""Application factory: `create_app` builds the app from named steps."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Any

from flask import Config, Flask, Request, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from discerner import config, feedback
from serving.api import (
    activities,
    admin,
    auth,
    health,
    openapi,
    products,
    recommendations,
    users,
)
from serving.api.cors import register_cors
from serving.api.errors import register_errorhandlers
from serving.api.schemas import decimal_pattern
from serving.runtime.experiments import Experiments
from serving.runtime.metrics import Metrics, instrument
from serving.runtime.model_holder import ChampionSource, ModelHolder
from serving.runtime.state import Services
from serving.runtime.throttle import LoginThrottle, SharedLoginThrottle
from serving.runtime.tokens import TokenCache
from serving.runtime.training import TrainingRunner

logger = logging.getLogger(__name__)

# Every setting can also come from an environment variable of the same name.
DEFAULTS: dict[str, Any] = {
    "DISCERNER_STORE": "",
    "DISCERNER_SECRET_KEY": "",
    "DISCERNER_TOKEN_SECONDS": 3600,
    "DISCERNER_MAX_BODY_BYTES": 16 * 1024 * 1024,
    "DISCERNER_LOGIN_FAILURES_PER_USER": 5,
    "DISCERNER_LOGIN_FAILURES_PER_ADDRESS": 20,
    "DISCERNER_LOGIN_WINDOW_SECONDS": 60.0,
    "DISCERNER_POPULARITY_SECONDS": 30.0,
    "DISCERNER_MODEL_NAME": config.MODEL_NAME,
    "DISCERNER_MODEL_ALIAS": config.CHAMPION_ALIAS,
    "DISCERNER_MODEL_POLL_SECONDS": 30.0,
    "DISCERNER_PRECOMPUTE_DEPTH": 50,
    "DISCERNER_CORS_ORIGINS": "",
    "DISCERNER_TRUSTED_PROXIES": 0,
    "DISCERNER_READ_SECONDS": 30.0,
    "DISCERNER_ACCOUNT_CACHE_SECONDS": 1.0,
}
BLUEPRINTS = (
    health.bp,
    openapi.bp,
    auth.bp,
    users.bp,
    products.bp,
    activities.bp,
    recommendations.bp,
    admin.bp,
)


class PositiveIdConverter(IntegerConverter):
    """`<id:name>`: a positive 64-bit integer; anything else in the path is a 404."""

    def __init__(self, url_map: Any):
        super().__init__(url_map, min=1, max=2**63 - 1)
        # Werkzeug checks min/max after choosing the rule by method, which made
        # `DELETE /users/0` a 405; a pattern that only matches valid ids makes it a 404.
        self.regex = decimal_pattern(2**63 - 1)


class WholeBodyLimit(LimitedStream):
    """A streamed body's size limit that refuses a longer body instead of cutting it.

    Werkzeug's maximum stops reading at the limit and hands over what it read, so a chunked
    body of 20 MiB arrived as its first 16 MiB and was parsed. At the limit this reads one
    more byte: any byte there means the body is too large (413).
    """

    def on_exhausted(self) -> None:
        if self._stream.read(1):
            raise RequestEntityTooLarge()

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted:  # the parent stops at the limit without looking further
            self.on_exhausted()
        return data


class ApiRequest(Request):
    """Flask's request, except that a body without a Content-Length obeys the limit whole."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        streamed = self.content_length is None and "wsgi.input_terminated" in self.environ
        if streamed and limit is not None:
            return WholeBodyLimit(self.environ["wsgi.input"], limit, is_max=True)
        return Request.stream.fget(self)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the API app.

    Args:
        test_config: Settings that override the defaults and the environment (tests pass
            `DISCERNER_HOME` and short limits here).

    Returns:
        The configured Flask app, with its store open; `app.extensions["discerner"].close()`
        closes it.
    """
    app = Flask(__name__)
    app.request_class = ApiRequest
    load_config(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_headers(app)
    register_cors(app)
    return app


def setting(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """One setting as an app sees it: from `overrides`, else the environment, else its default."""
    if overrides and name in overrides:
        return overrides[name]
    default = DEFAULTS[name]
    return type(default)(os.environ[name]) if name in os.environ else default


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Defaults, then environment variables, then `test_config`."""
    app.config["DISCERNER_HOME"] = str(config.home())
    app.config.from_mapping({key: setting(key) for key in DEFAULTS})
    app.config.from_mapping(test_config or {})
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["DISCERNER_MAX_BODY_BYTES"])
    app.json.sort_keys = False  # type: ignore[attr-defined]


def register_extensions(app: Flask) -> None:
    """Open the store and build the shared objects in `app.extensions["discerner"]`.

    The store is `DISCERNER_STORE` (a `postgresql://` URL), else the data folder's embedded
    store. On PostgreSQL the login limits and the champion's precomputed lists are shared
    through the database with every other process and host.
    """
    # Imported on use: the gunicorn master imports this module but never opens a store.
    from discerner.store import open_store

    home = config.ensure_home(app.config["DISCERNER_HOME"])
    store = open_store(app.config["DISCERNER_STORE"] or config.store_url(home))
    models = build_models(app.config, store, home)
    services = Services(
        store=store,
        models=models,
        throttle=build_throttle(app.config, store),
        tokens=TokenCache(account_seconds=account_cache_seconds(app.config, store)),
        metrics=Metrics(),
        token_seconds=int(app.config["DISCERNER_TOKEN_SECONDS"]),
        training=build_training(app.config, home, models),
        experiments=Experiments(store, models, models.poll_seconds),
    )
    app.extensions["discerner"] = services
    services.metrics.watch(lambda: services)
    auth.init_auth(app, home, store)
    instrument(app, services.metrics)
    services.models.start()  # the champion loads in the background; /health answers meanwhile
    services.experiments.start()
    logger.info("serving data folder %s", home)


def build_models(settings: Config, store: Any, home: Path) -> ModelHolder:
    """The model holder, following `DISCERNER_MODEL_NAME@DISCERNER_MODEL_ALIAS`."""
    name, alias = settings["DISCERNER_MODEL_NAME"], settings["DISCERNER_MODEL_ALIAS"]
    return ModelHolder(
        store,
        ChampionSource(home, name, alias),
        poll_seconds=float(settings["DISCERNER_MODEL_POLL_SECONDS"]),
        popularity_seconds=float(settings["DISCERNER_POPULARITY_SECONDS"]),
        precompute_depth=int(settings["DISCERNER_PRECOMPUTE_DEPTH"]),
        feedback=lambda: feedback.current(home),
    )


def build_training(settings: Config, home: Path, models: ModelHolder) -> TrainingRunner:
    """Training runs of the admin page: `discerner train` on this server's store and model."""
    env = {**os.environ, "DISCERNER_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("DISCERNER_STORE", None)
    if settings["DISCERNER_STORE"]:
        env["DISCERNER_STORE"] = settings["DISCERNER_STORE"]
    names = [
        "--name",
        settings["DISCERNER_MODEL_NAME"],
        "--alias",
        settings["DISCERNER_MODEL_ALIAS"],
    ]
    return TrainingRunner(home, env, names, on_finish=models.request_check)


def account_cache_seconds(settings: Config, store: Any) -> float:
    """How long a token check may reuse an account's look-up: on a store shared through a
    database, `DISCERNER_ACCOUNT_CACHE_SECONDS` (a query saved per request; the bound on how
    long a revoked token still works); the embedded store's look-up is a `stat`, so never."""
    shared = hasattr(store, "login_failures")
    return float(settings["DISCERNER_ACCOUNT_CACHE_SECONDS"]) if shared else 0.0


def build_throttle(settings: Config, store: Any = None) -> LoginThrottle | SharedLoginThrottle:
    """Failed-login limits per username and per client address.

    Counted in the store's database when it offers that (PostgreSQL: every process and host
    counts the same failures), else in this process's memory.
    """
    limits = {
        "user": int(settings["DISCERNER_LOGIN_FAILURES_PER_USER"]),
        "addr": int(settings["DISCERNER_LOGIN_FAILURES_PER_ADDRESS"]),
    }
    window = float(settings["DISCERNER_LOGIN_WINDOW_SECONDS"])
    if hasattr(store, "login_failures"):
        return SharedLoginThrottle(store.login_failures(limits, window))
    return LoginThrottle(limits, window=window)


def register_blueprints(app: Flask) -> None:
    """Attach one blueprint per resource (ids in paths use the `id` converter)."""
    app.url_map.converters["id"] = PositiveIdConverter
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)


def register_headers(app: Flask) -> None:
    """Security headers on every response; tokens are never cached."""

    @app.after_request
    def _secure(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.endpoint == "auth.token":
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
