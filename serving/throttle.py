"""Login throttling: a sliding window of failed logins per username and per client address."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class LoginThrottle:
    """Counts failed logins per key and refuses a key with too many recent failures.

    Keys are strings such as `"user:alice"` and `"addr:10.0.0.7"`; each kind has its own limit,
    so one address cannot lock out a username forever by itself, and one address cannot try
    many usernames.

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
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait before any of `keys` may try again, or None when all may try now."""
        now = self.clock()
        waits = []
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self._limit(key):
                    waits.append(times[0] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, keys: Iterable[str]) -> None:
        """Record one failed login against each key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
                self._failures[key] = self._failures.pop(key)  # most recent last
            while len(self._failures) > self.max_keys:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (a username that just logged in)."""
        with self._lock:
            self._failures.pop(key, None)

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
