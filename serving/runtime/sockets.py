"""A client socket whose reads share one deadline per request (slow-client protection)."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import time
from typing import Any

logger = logging.getLogger(__name__)


class DeadlineSocket:
    """Wraps a client socket so a request's reads must all finish within `seconds`.

    gunicorn's threaded worker reads a request's headers and body in a request thread, from a
    plain blocking socket, with no time limit: a client that sends part of a request and then
    stalls or trickles (slowloris) holds that thread for as long as it likes, and a handful of
    them hold all of them. The worker makes the socket blocking each time it starts handling a
    request on it; from then on, reads past the deadline fail as a reset connection, which
    gunicorn closes without a traceback. Writes wait at most `seconds` each. Everything else is
    the socket's own.

    Args:
        sock: The accepted client socket.
        seconds: The time a client has to send a whole request (headers and body).
    """

    def __init__(self, sock: socket.socket, seconds: float):
        self._sock = sock
        self._seconds = seconds
        self._deadline: float | None = None

    def setblocking(self, flag: bool) -> None:
        """Blocking starts a request's deadline; non-blocking (idle, in the poller) ends it."""
        if flag:
            self._deadline = time.monotonic() + self._seconds
            self._sock.settimeout(self._seconds)
        else:
            self._deadline = None
            self._sock.setblocking(False)

    def settimeout(self, value: float | None) -> None:
        """An explicit timeout (gunicorn's graceful close) replaces the request's deadline."""
        self._deadline = None
        self._sock.settimeout(value)

    def recv(self, *args: Any) -> bytes:
        return self._read(self._sock.recv, *args)

    def recv_into(self, *args: Any) -> int:
        return self._read(self._sock.recv_into, *args)

    def _read(self, read, *args: Any):
        if self._deadline is None:
            return read(*args)
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._expired()
        self._sock.settimeout(remaining)
        try:
            return read(*args)
        except TimeoutError:
            raise self._expired() from None

    def _expired(self) -> ConnectionResetError:
        logger.info("closing a connection whose request took over %g s to arrive", self._seconds)
        # Shut both ways now: gunicorn's graceful close would otherwise wait up to 2 s for
        # the client, in the worker's main loop, for each connection cut off.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        return ConnectionResetError(errno.ECONNRESET, "the request took too long to arrive")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
