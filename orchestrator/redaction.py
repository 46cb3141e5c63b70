"""Secrets kept out of every error text the runtime records or prints.

A provider that refuses a key may echo it in its error body; a URL may carry a password.
Every error text that reaches a run's result, a trace, the CLI's output or a checkpoint
goes through ``redact`` first: the values of the API-key variables a model pool names
(registered with ``register_secret`` when the pool is built and when a key is read), and
anything shaped like a bearer token, an API key assignment, a provider key (``sk-...``)
or a URL's password, become ``[REDACTED]``.
"""

from __future__ import annotations

import os
import re
import threading

__all__ = ["REDACTED", "redact", "register_secret", "register_secret_env"]

REDACTED = "[REDACTED]"

_MIN_SECRET = 6
"""Shorter values are not treated as secrets (they would blank out ordinary words)."""

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
"""Registered secret values, longest first."""

_PATTERNS = (
    # Authorization: Bearer <token>, and a bare "Bearer <token>"
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # api_key=..., "api-key": "...", x-api-key: ..., API key provided: ..., token=...
    (
        re.compile(
            r"(?i)\b((?:x-)?api[ _-]?key(?:\s+provided)?|access[_-]?token|auth[_-]?token|token"
            r"|secret|password|passwd)([\"']?\s*[:=]\s*[\"']?)([^\s\"',;}&]{4,})"
        ),
        r"\1\2" + REDACTED,
    ),
    # provider-style keys: sk-..., sk-ant-..., pk-..., ghp_..., xoxb-...
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghs|xox[abp])[_-][A-Za-z0-9_-]{8,}"), REDACTED),
    # scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
)


def register_secret(value: str | None) -> None:
    """Treat ``value`` as a secret from now on (values shorter than 6 are ignored)."""
    global _secrets
    if not value or len(value) < _MIN_SECRET:
        return
    with _lock:
        if value not in _secrets:
            _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))


def register_secret_env(name: str | None) -> None:
    """Treat the value of the environment variable ``name`` (if set) as a secret."""
    if name:
        register_secret(os.environ.get(name))


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped token replaced."""
    for value in _secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
