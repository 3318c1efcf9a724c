"""Login throttling: a sliding window of failed logins per username and per client address."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

SETTLE_SECONDS = 10.0  # longest wait for attempts in progress (a password check takes ~0.1 s)


class LoginThrottle:
    """Counts failed logins per key and refuses a key with too many recent failures.

    Keys are strings such as `"user:alice"` and `"addr:10.0.0.7"`; each kind has its own limit,
    so one address cannot lock out a username forever by itself, and one address cannot try
    many usernames. A login holds its place in every limit while its password is checked
    (`attempt`), so simultaneous attempts cannot all pass the limit before one is counted.

    Args:
        limits: Failures allowed inside the window, per key prefix (`{"user": 5, "addr": 20}`).
        window: The window's length in seconds.
        clock: Monotonic seconds; tests pass a fake one.
        max_keys: Keys kept at most; the stalest go first, so memory stays bounded.
    """

    def __init__(
        self,
        limits: dict[str, int],
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ):
        self.limits = dict(limits)
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._checking: Counter[str] = Counter()  # attempts whose password is being checked
        self._settled = threading.Condition(threading.Lock())

    def attempt(self, keys: Iterable[str]) -> AbstractContextManager[int | None]:
        """Hold one of the remaining attempts of every key while a password is checked.

        When the attempts in progress could fill a key's limit, this waits for one of them to
        settle: a failure may use up the last attempt, a success gives its place back.

        Args:
            keys: The login's keys (`"user:alice"`, `"addr:10.0.0.7"`).

        Yields:
            None when the login may go on; else the seconds to wait (nothing is counted).
            The attempt counts as a failure if the block raises, as a success if it returns.
        """
        keys = tuple(keys)
        return _checking(self._hold(keys), lambda failed: self._release(keys, failed))

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait before any of `keys` may try again, or None when all may try now."""
        with self._settled:
            return self._wait(keys, self.clock())

    def failed(self, keys: Iterable[str]) -> None:
        """Record one failed login against each key."""
        with self._settled:
            self._record(keys, self.clock())

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (a username that just logged in)."""
        with self._settled:
            self._failures.pop(key, None)

    def _hold(self, keys: tuple[str, ...]) -> int | None:
        deadline = time.monotonic() + SETTLE_SECONDS
        with self._settled:
            while (wait := self._wait(keys, self.clock())) is None and self._full(keys):
                if not self._settled.wait(deadline - time.monotonic()):
                    return 1  # attempts stuck in progress: refuse rather than queue forever
            if wait is None:
                self._checking.update(keys)
            return wait

    def _release(self, keys: tuple[str, ...], failed: bool) -> None:
        with self._settled:
            self._checking.subtract(keys)
            self._checking += Counter()  # drops the keys at zero, so the counter stays small
            if failed:
                self._record(keys, self.clock())
            self._settled.notify_all()

    def _record(self, keys: Iterable[str], now: float) -> None:
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
            self._failures[key] = self._failures.pop(key)  # most recent last
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def _wait(self, keys: Iterable[str], now: float) -> int | None:
        waits = []
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self._limit(key):
                waits.append(times[0] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def _full(self, keys: Iterable[str]) -> bool:
        """Whether the attempts in progress could use up what is left of a key's limit."""
        for key in keys:
            failures = len(self._failures.get(key, ()))
            if failures + self._checking[key] >= self._limit(key):
                return True
        return False

    def _limit(self, key: str) -> int:
        return self.limits[key.split(":", 1)[0]]

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


@contextmanager
def _checking(wait: int | None, release: Callable[[bool], None]) -> Iterator[int | None]:
    """Yield `wait` when the login must wait (nothing is held); else None, then release the
    held place with whether the block failed (raised)."""
    if wait is not None:
        yield wait
        return
    failed = True
    try:
        yield None
        failed = False
    finally:
        release(failed)


class SharedLoginThrottle:
    """`LoginThrottle`'s face over failures counted in the store's database (PostgreSQL).

    Every process and host on the database counts the same failures, so the limits hold for
    the service as a whole, and a restart forgets nothing. A login holds its place while its
    password is checked, as with `LoginThrottle`; how is `LoginFailures`'s business.

    Args:
        failures: The store's shared counts (`PostgresStore.login_failures(limits, window)`).
    """

    def __init__(self, failures: Any):
        self.failures = failures
        self.limits, self.window = failures.limits, failures.window

    def attempt(self, keys: Iterable[str]) -> AbstractContextManager[int | None]:
        """As `LoginThrottle.attempt`: None while the login may go on, else seconds to wait."""
        held = self.failures.hold(keys)
        wait = held if isinstance(held, int) else None
        return _checking(wait, lambda failed: self.failures.release(held, failed))

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait before any of `keys` may try again, or None when all may try now."""
        return self.failures.retry_after(keys)

    def failed(self, keys: Iterable[str]) -> None:
        """Record one failed login against each key."""
        self.failures.failed(keys)

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (a username that just logged in)."""
        self.failures.clear(key)


def address_key(address: str | None) -> str:
    """The throttle key of a client address: IPv4 as it is, IPv6 by its /64 network.

    One IPv6 host usually holds a whole /64 and can pick any address in it, so limiting single
    IPv6 addresses would limit nothing.

    Args:
        address: The client's address (`request.remote_addr`).

    Returns:
        For example `"addr:192.0.2.7"` or `"addr:2001:db8::/64"`.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"addr:{address}"
    if ip.version == 6 and ip.ipv4_mapped is None:
        return f"addr:{ipaddress.ip_network((ip, 64), strict=False)}"
    return f"addr:{getattr(ip, 'ipv4_mapped', None) or ip}"
