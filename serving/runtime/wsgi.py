"""Run the app under gunicorn, the production WSGI server (threads in one or more processes)."""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker
from threadpoolctl import threadpool_limits

from serving.app import create_app, setting
from serving.runtime.sockets import DeadlineSocket
from serving.runtime.state import Services

logger = logging.getLogger(__name__)

# One line per request: client, request line, status, bytes, milliseconds. Tokens travel in
# headers and passwords in bodies, neither of which is logged.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
STARTING = "starting: the store is opening"  # the 503 message before the API answers
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


class _Server(BaseApplication):
    def __init__(self, config: dict[str, Any], options: dict[str, Any]):
        self.app_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Starting:
        # Called in the worker, after the fork: the store's lock and threads belong to it.
        # Each request does one small matrix product; BLAS threads fighting over two cores
        # make it 2-3x slower than one thread, and request threads give the parallelism.
        threadpool_limits(limits=1, user_api="blas")
        _return_large_blocks()
        return Starting(self._build)

    def _build(self) -> Flask:
        app = create_app(self.app_config)
        # What is alive once the app (and later each champion) is loaded lives as long as the
        # process: gc.freeze hides it from the cyclic collector, whose full passes over
        # MLflow's ~180k objects would otherwise stall requests for 100-300 ms.
        app.extensions["discerner"].models.after_swap = gc.freeze
        gc.freeze()
        return app

    def run(self) -> None:
        _ForwardingArbiter(self).run()


def _return_large_blocks() -> None:
    """Make glibc give blocks of 1 MiB and more back to the system as soon as they are freed.

    glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB), and
    later blocks that size come from per-thread arenas that keep them: 96 logins from 48
    clients (scrypt takes 16 MiB each) left a 48-thread worker 626 MiB larger for good. A fixed
    threshold, as `MALLOC_MMAP_THRESHOLD_=1048576` would set, keeps it at 2 MiB. Request-sized
    arrays (a score per product: 80 kB for 20k products) stay below it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)


class Starting:
    """The worker's WSGI app: the API once built, and meanwhile `/health` only.

    Opening a large store takes seconds. The API app is built in a background thread, so
    `/health` answers 200 as soon as the process is up; every other path is a 503 JSON error
    with `Retry-After` until the store is open. If the app cannot be built (a corrupt store
    file), the error is logged and the worker exits as gunicorn's boot failure, which stops
    the server.

    Args:
        build: Builds the API app (in the background thread).
    """

    def __init__(self, build: Callable[[], Flask]):
        self.app: Flask | None = None
        threading.Thread(target=self._build, args=(build,), name="start", daemon=True).start()

    def _build(self, build: Callable[[], Flask]) -> None:
        try:
            self.app = build()
        except Exception:
            logger.exception("the server cannot start")
            os._exit(Arbiter.WORKER_BOOT_ERROR)  # the master halts, as for any failed boot

    def services(self) -> Services | None:
        """The API app's shared objects, once it is built."""
        return None if self.app is None else self.app.extensions["discerner"]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        app = self.app
        if app is not None:
            return app(environ, start_response)
        if environ.get("PATH_INFO") == "/health":
            return _json(start_response, "200 OK", {"status": "ok"})
        error = {"status": 503, "message": STARTING}
        return _json(start_response, "503 Service Unavailable", {"error": error}, retry=True)


def _json(start_response: Callable, status: str, body: dict, retry: bool = False) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("X-Content-Type-Options", "nosniff"),
    ]
    start_response(status, headers + ([("Retry-After", "1")] if retry else []))
    return [data]


class _ForwardingArbiter(Arbiter):
    """gunicorn's master, except that SIGHUP is passed to the worker instead of restarting it.

    A restart would start a new worker while the old one still holds the store's writer lock;
    the worker takes SIGHUP as "look for a new champion now".
    """

    def handle_hup(self) -> None:
        self.log.info("SIGHUP: asking the worker to look for a new champion")
        self.kill_workers(signal.SIGHUP)


class GracefulThreadWorker(ThreadWorker):
    """The gthread worker: SIGHUP looks for a new champion; SIGTERM closes idle connections;
    a client has `DISCERNER_READ_SECONDS` to send each request (`serving.runtime.sockets`).

    gunicorn 26 waits for every open connection before a worker exits, and waits in one
    `select` of the whole graceful timeout, so a client idling on a keep-alive connection
    makes shutdown last the full timeout, after which the master kills the worker before the
    store is closed. Idle connections carry no request, so closing them at once is safe;
    requests in flight still finish.
    """

    def init_signals(self) -> None:
        super().init_signals()
        signal.signal(signal.SIGHUP, self._check_champion)

    def enqueue_req(self, conn: Any) -> None:
        if not isinstance(conn.sock, DeadlineSocket):
            seconds = float(setting("DISCERNER_READ_SECONDS", self.app.app_config))
            conn.sock = DeadlineSocket(conn.sock, seconds)
        super().enqueue_req(conn)

    def _check_champion(self, sig: int, frame: Any) -> None:
        services = _services(self)
        if services is not None:
            services.models.request_check()
            if services.experiments is not None:
                services.experiments.request_check()

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        self.method_queue.defer(self._close_idle_connections)

    def _close_idle_connections(self) -> None:
        for conn in (*self.keepalived_conns, *self.pending_conns):
            conn.timeout = 0
        self.murder_keepalived()
        self.murder_pending()


def _close_store(arbiter: Any, worker: Any) -> None:
    services = _services(worker)
    if services is not None:
        services.close()
        logger.info("store closed")


def _services(worker: Any) -> Services | None:
    starting = getattr(worker, "wsgi", None)  # None until the worker has loaded it
    return starting.services() if isinstance(starting, Starting) else None


def options(host: str, port: int, threads: int, workers: int = 1) -> dict[str, Any]:
    """gunicorn settings: `workers` processes (more than one only on a shared store)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "serving.runtime.wsgi.GracefulThreadWorker",
        "threads": threads,
        "keepalive": 5,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "graceful_timeout": 30,
        "timeout": 120,
        "control_socket_disable": True,
        "worker_exit": _close_store,
    }


def run(
    home: Path, host: str, port: int, threads: int = 8, workers: int = 1, **settings: Any
) -> None:
    """Serve the API until SIGTERM or SIGINT; in-flight requests finish, then the store closes.

    Args:
        home: The data folder.
        host: The address to bind.
        port: The port to bind.
        threads: Request threads in each worker process.
        workers: Worker processes; more than one needs a store that many processes share
            (PostgreSQL), checked by the caller (`discerner serve`).
        **settings: More app settings (`DISCERNER_*` keys of `serving.app.DEFAULTS`).
    """
    config = {"DISCERNER_HOME": str(home), **settings}
    _Server(config, options(host, port, threads, workers)).run()
