"""Attempt throttling (ASVS 6.3.1 / ANSSI): login attempts are counted per account (the
e-mail typed, known or not, so the answer reveals nothing) and per client address over a
window; past the limit the login answers with a French message and checks nothing. The
public certificate check (/verify) is limited per address with the same machinery.

An attempt is *reserved* before anything is checked: the counter is incremented
atomically (Redis INCR, or under a lock in memory) and the attempt goes on only if the
new count is within the limit. Parallel attempts therefore cannot all read "4 failures
so far" and all be checked: of 16 simultaneous wrong passwords, exactly `limit` are
checked. A refused attempt gives its reservation back (a blocked account does not also
use up its address's allowance); an attempt that turns out right gives it back too (it
was not a failure).

Counters live in Redis in production (shared by every gunicorn worker); in embedded
mode, or while Redis is unreachable, in this process's memory."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, current_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    account: int
    address: int
    window: int


class MemoryCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def hit(self, key: str, window: int) -> tuple[int, int]:
        """Add one; (the new count, seconds left in the window)."""
        now = time.monotonic()
        with self._lock:
            count, expires = self._counts.get(key, (0, now + window))
            if expires <= now:
                count, expires = 0, now + window
            self._counts[key] = (count + 1, expires)
        return count + 1, math.ceil(expires - now)

    def incr(self, key: str, window: int) -> None:
        self.hit(key, window)

    def give_back(self, key: str) -> None:
        """Undo one hit (never below zero, never reviving an expired window)."""
        now = time.monotonic()
        with self._lock:
            count, expires = self._counts.get(key, (0, now))
            if expires > now and count > 0:
                self._counts[key] = (count - 1, expires)

    def get(self, key: str) -> tuple[int, int]:
        """(count, seconds left in the window)"""
        now = time.monotonic()
        with self._lock:
            count, expires = self._counts.get(key, (0, now))
        if expires <= now:
            return 0, 0
        return count, math.ceil(expires - now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


# DECR only a live key: a plain DECR on a key that expired meanwhile would create it at -1
# without expiry, a permanent extra attempt.
_GIVE_BACK = """
if redis.call('exists', KEYS[1]) == 1 and tonumber(redis.call('get', KEYS[1])) > 0 then
  return redis.call('decr', KEYS[1])
end
return 0
"""


class RedisCounters:
    def __init__(self, url: str) -> None:
        from redis import Redis

        self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._give_back = self._redis.register_script(_GIVE_BACK)

    def hit(self, key: str, window: int) -> tuple[int, int]:
        pipe = self._redis.pipeline()  # MULTI/EXEC: the count and its expiry together
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.ttl(key)
        count, _set, ttl = pipe.execute()
        return int(count), max(int(ttl), 1)

    def incr(self, key: str, window: int) -> None:
        self.hit(key, window)

    def give_back(self, key: str) -> None:
        self._give_back(keys=[key])

    def get(self, key: str) -> tuple[int, int]:
        pipe = self._redis.pipeline()
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
        return int(count or 0), max(int(ttl), 0)

    def clear(self, key: str) -> None:
        self._redis.delete(key)


class Counters:
    """Redis when configured, memory otherwise or while Redis is unreachable."""

    def __init__(self, redis_url: str | None) -> None:
        self.memory = MemoryCounters()
        self.redis = RedisCounters(redis_url) if redis_url else None

    def call(self, method: str, *args: object):
        if self.redis is not None:
            try:
                return getattr(self.redis, method)(*args)
            except Exception as exc:
                log.warning("throttle: Redis unavailable (%s), counting in memory", exc)
        return getattr(self.memory, method)(*args)

    def reserve(self, keys: Iterable[tuple[str, int]], window: int) -> int:
        """One attempt against each (key, limit): 0 if every count stays within its limit
        (the attempt is reserved), else the seconds to wait (nothing is reserved)."""
        taken, waits = [], []
        for key, limit in keys:
            count, left = self.call("hit", key, window)
            taken.append(key)
            if count > limit:
                waits.append(max(left, 1))
        if waits:
            for key in taken:
                self.call("give_back", key)
        return max(waits, default=0)


class Throttle:
    def __init__(self, limits: Limits, redis_url: str | None) -> None:
        self.limits = limits
        self.counters = Counters(redis_url)

    # the counters' two stores, as attributes (tests read them)
    @property
    def memory(self) -> MemoryCounters:
        return self.counters.memory

    @property
    def redis(self) -> RedisCounters | None:
        return self.counters.redis

    def _call(self, method: str, *args: object):
        return self.counters.call(method, *args)

    @staticmethod
    def _keys(email: str, address: str | None) -> tuple[str, str]:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"backoffice:login:account:{digest}", f"backoffice:login:address:{address or '-'}"

    def reserve(self, email: str, address: str | None) -> int:
        """Reserve one attempt for this account from this address, before checking
        anything: 0 if it may go on, else the seconds to wait (and nothing is checked).
        The reservation stays as a failure unless `give_back` or `success` is called."""
        account_key, address_key = self._keys(email, address)
        return self.counters.reserve(((account_key, self.limits.account),
                                      (address_key, self.limits.address)), self.limits.window)

    def give_back(self, email: str, address: str | None) -> None:
        """The reserved attempt was right (a password step passed): not a failure."""
        for key in self._keys(email, address):
            self._call("give_back", key)

    def wait_seconds(self, email: str, address: str | None) -> int:
        """0 if a login may be tried now, else the seconds to wait (reads only)."""
        account_key, address_key = self._keys(email, address)
        waits = []
        for key, limit in ((account_key, self.limits.account),
                           (address_key, self.limits.address)):
            count, left = self._call("get", key)
            if count >= limit:
                waits.append(max(left, 1))
        return max(waits, default=0)

    def failure(self, email: str, address: str | None) -> None:
        """Count a failure without a reservation (kept for callers that check first)."""
        for key in self._keys(email, address):
            self._call("incr", key, self.limits.window)

    def forget_local_counts(self) -> None:
        """Drop the in-memory counters (tests; a restart does the same)."""
        self.counters.memory = MemoryCounters()

    def success(self, email: str, address: str | None = None) -> None:
        """Signed in: the account's failures are forgotten; the attempt reserved for
        the address, if given, is given back."""
        account_key, address_key = self._keys(email, address)
        self._call("clear", account_key)
        if address is not None:
            self._call("give_back", address_key)


def throttle() -> Throttle:
    return current_app.extensions["login_throttle"]


def message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ("Trop de tentatives de connexion infructueuses. Par sécurité, réessayez dans "
            f"{minutes} minute{'s' if minutes > 1 else ''}.")


def init_app(app: Flask) -> None:
    redis_url = app.config.get("LOGIN_THROTTLE_REDIS_URL", app.config.get("REDIS_URL"))
    app.extensions["login_throttle"] = Throttle(
        Limits(app.config["LOGIN_MAX_FAILURES_ACCOUNT"], app.config["LOGIN_MAX_FAILURES_ADDRESS"],
               app.config["LOGIN_THROTTLE_SECONDS"]),
        redis_url,
    )
