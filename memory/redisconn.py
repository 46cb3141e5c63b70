"""A Redis client of a URL, and the errors that mean the server is away: the one module
that imports redis (memory's ``RedisStore`` and the routing state's ``RedisPolicyStore``
connect through it)."""

from __future__ import annotations

from typing import Any

from orchestrator.errors import InputError

__all__ = ["connect", "unreachable_errors", "watch_error"]


def connect(url: str, *, timeout_s: float = 2.0) -> Any:
    """A client of the Redis server at ``url`` (no connection is made yet); InputError
    when ``url`` is not a Redis URL."""
    import redis

    try:
        return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    except ValueError as exc:  # no scheme, a port out of range, a bad database number
        raise InputError(
            f"{url!r} is not a Redis URL ({exc}); write it as redis://HOST:PORT/DB, "
            "e.g. redis://127.0.0.1:6379/0"
        ) from None


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a call raises when the server cannot be reached."""
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def watch_error() -> type[BaseException]:
    """What EXEC raises when a watched key changed since WATCH (retry the transaction)."""
    import redis

    return redis.exceptions.WatchError
