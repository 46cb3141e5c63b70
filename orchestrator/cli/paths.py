"""Where the runtime keeps local state: policy, traces and checkpoints."""

from __future__ import annotations

from pathlib import Path

from agents.weights import data_home

__all__ = ["data_dir"]


def data_dir(override: str | Path | None = None) -> Path:
    """The local data directory: ``override``, else $ORCH_HOME, else the XDG data home."""
    return Path(override).expanduser() if override else data_home()
