"""The layering of the design holds: checked by import-linter and by reading the imports."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def _modules_importing(prefix: str) -> list[str]:
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if any(m == prefix or m.startswith(prefix + ".") for m in _imports(path)):
                found.append(str(path.relative_to(ROOT)))
    return found


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_one_import_site_per_heavy_dependency() -> None:
    assert _modules_importing("litellm") == ["agents/litellm_model.py"]
    assert _modules_importing("langgraph") == ["orchestrator/execution/graph.py"]
    assert _modules_importing("langchain_core") == ["orchestrator/execution/graph.py"]
    assert _modules_importing("opentelemetry.sdk") == [
        "orchestrator/testing.py",
        "orchestrator/tracing/exporters.py",
    ]
    assert _modules_importing("redis") == ["memory/redis_store.py"]
    assert _modules_importing("bm25s") == ["memory/retrieval.py"]
    assert _modules_importing("Stemmer") == ["memory/retrieval.py"]


def test_library_code_uses_only_the_otel_api() -> None:
    for path in (
        "orchestrator/execution/runtime.py",
        "orchestrator/tracing/spans.py",
        "agents/litellm_model.py",
    ):
        assert not any(m.startswith("opentelemetry.sdk") for m in _imports(ROOT / path)), path
