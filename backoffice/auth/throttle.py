"""Login throttling (ASVS 6.3.1 / ANSSI): failed attempts are counted per account (the
e-mail typed, known or not, so the answer reveals nothing) and per client address over a
window; past the limit the login answers with a French message and checks nothing.

Counters live in Redis in production (shared by every gunicorn worker); in embedded
mode, or while Redis is unreachable, in this process's memory."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
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

    def incr(self, key: str, window: int) -> None:
        now = time.monotonic()
        with self._lock:
            count, expires = self._counts.get(key, (0, now + window))
            if expires <= now:
                count, expires = 0, now + window
            self._counts[key] = (count + 1, expires)

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


class RedisCounters:
    def __init__(self, url: str) -> None:
        from redis import Redis

        self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def incr(self, key: str, window: int) -> None:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.execute()

    def get(self, key: str) -> tuple[int, int]:
        pipe = self._redis.pipeline()
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
        return int(count or 0), max(int(ttl), 0)

    def clear(self, key: str) -> None:
        self._redis.delete(key)


class Throttle:
    def __init__(self, limits: Limits, redis_url: str | None) -> None:
        self.limits = limits
        self.memory = MemoryCounters()
        self.redis = RedisCounters(redis_url) if redis_url else None

    def _call(self, method: str, *args: object):  # noqa: ANN202
        if self.redis is not None:
            try:
                return getattr(self.redis, method)(*args)
            except Exception as exc:  # noqa: BLE001 - Redis down: keep serving logins
                log.warning("login throttle: Redis unavailable (%s), counting in memory", exc)
        return getattr(self.memory, method)(*args)

    @staticmethod
    def _keys(email: str, address: str | None) -> tuple[str, str]:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"backoffice:login:account:{digest}", f"backoffice:login:address:{address or '-'}"

    def wait_seconds(self, email: str, address: str | None) -> int:
        """0 if a login may be tried now, else the seconds to wait."""
        account_key, address_key = self._keys(email, address)
        waits = []
        for key, limit in ((account_key, self.limits.account),
                           (address_key, self.limits.address)):
            count, left = self._call("get", key)
            if count >= limit:
                waits.append(max(left, 1))
        return max(waits, default=0)

    def failure(self, email: str, address: str | None) -> None:
        for key in self._keys(email, address):
            self._call("incr", key, self.limits.window)

    def forget_local_counts(self) -> None:
        """Drop the in-memory counters (tests; a restart does the same)."""
        self.memory = MemoryCounters()

    def success(self, email: str) -> None:
        self._call("clear", self._keys(email, None)[0])


def throttle() -> Throttle:
    return current_app.extensions["login_throttle"]


def message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ("Trop de tentatives de connexion infructueuses. Par sécurité, réessayez dans "
            f"{minutes} minute{'s' if minutes > 1 else ''}.")


def init_app(app: Flask) -> None:
    app.extensions["login_throttle"] = Throttle(
        Limits(app.config["LOGIN_MAX_FAILURES_ACCOUNT"], app.config["LOGIN_MAX_FAILURES_ADDRESS"],
               app.config["LOGIN_THROTTLE_SECONDS"]),
        app.config.get("LOGIN_THROTTLE_REDIS_URL", app.config.get("REDIS_URL")),
    )
