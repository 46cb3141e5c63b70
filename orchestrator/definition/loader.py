"""Loading a user's pipeline file: run it as a module and find the Pipeline it defines."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from orchestrator.definition.pipeline import Pipeline
from orchestrator.errors import ConfigError, InputError

__all__ = ["load_module", "load_pipeline"]


def load_module(path: str | Path) -> ModuleType:
    """Execute the Python file at ``path`` as a fresh module."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    if not path.is_file() or path.suffix != ".py":
        raise InputError(
            f"{str(path)!r} is not a Python file; pass a .py file that defines a Pipeline"
        )
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"orch_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        raise
    except SyntaxError as exc:
        raise InputError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except (Exception, SystemExit) as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        if isinstance(exc, SystemExit):  # a script's exit, not a pipeline definition
            raise InputError(
                f"{where}: loading the file called sys.exit({exc.code!r}), so it defined "
                "nothing; a pipeline file defines a Pipeline at module level (put a script's "
                "own code under `if __name__ == '__main__':`)"
            ) from None
        raise InputError(f"{where}: loading the file raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def load_pipeline(path: str | Path, name: str | None = None) -> tuple[Pipeline, ModuleType]:
    """The Pipeline defined at module level in ``path`` (by ``name`` if several)."""
    module = load_module(path)
    found = {v.name: v for v in vars(module).values() if isinstance(v, Pipeline)}
    if not found:
        raise InputError(
            f"{path} defines no pipeline; create one at module level, e.g. "
            "`pipeline = Pipeline('my-pipeline', stages=[...], roles=[...])`"
        )
    if name is not None:
        if name not in found:
            raise InputError(f"{path} defines pipelines {sorted(found)}, not {name!r}")
        return found[name], module
    if len(found) > 1:
        raise InputError(
            f"{path} defines several pipelines {sorted(found)}; choose one with --pipeline"
        )
    return next(iter(found.values())), module
