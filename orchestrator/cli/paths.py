"""Where the runtime keeps local state: policy, traces and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir"]


def data_dir(override: str | Path | None = None) -> Path:
    """The local data directory: ``override``, else $ORCH_HOME, else the XDG data home."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("ORCH_HOME"):
        return Path(os.environ["ORCH_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "orchestrator"
