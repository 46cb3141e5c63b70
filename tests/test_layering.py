"""The layering of the design holds: checked by import-linter and by reading the imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "agents", "skills", "memory")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _library_modules() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def _modules_importing(prefix: str) -> list[str]:
    found = []
    for path in _library_modules():
        if any(m == prefix or m.startswith(prefix + ".") for m in _imports(path)):
            found.append(str(path.relative_to(ROOT)))
    return found


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_every_part_of_the_package_is_in_a_layer() -> None:
    """A new subpackage or top-level module cannot escape the layers contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    assert contract["type"] == "layers"
    layered = {m for layer in contract["layers"] for m in re.split(r"[|:]", layer)}
    layered = {m.strip() for m in layered}
    parts = {
        f"orchestrator.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "orchestrator").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert parts - layered == set()
    assert {"agents", "skills", "memory"} <= layered


def test_one_import_site_per_heavy_dependency() -> None:
    assert _modules_importing("litellm") == ["agents/litellm_model.py"]
    assert _modules_importing("langgraph") == ["orchestrator/execution/graph.py"]
    assert _modules_importing("langchain_core") == ["orchestrator/execution/graph.py"]
    assert _modules_importing("opentelemetry.sdk") == [
        "orchestrator/testing.py",
        "orchestrator/tracing/exporters.py",
    ]
    assert _modules_importing("redis") == ["memory/redisconn.py"]
    assert _modules_importing("bm25s") == ["memory/retrieval.py"]
    assert _modules_importing("dbos") == ["orchestrator/durable/engine.py"]
    assert _modules_importing("sqlalchemy") == ["orchestrator/durable/liveness.py"]
    assert _modules_importing("psycopg") == ["orchestrator/execution/graph.py"]
    assert _modules_importing("psycopg_pool") == ["orchestrator/execution/graph.py"]
    assert _modules_importing("Stemmer") == ["memory/retrieval.py"]
