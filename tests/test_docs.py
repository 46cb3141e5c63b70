"""Every ```python block in the README and docs/ runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        out.extend((f"{doc.name}#{i}", code) for i, code in enumerate(BLOCK.findall(text)))
    return out


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_doc_example_runs(
    where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, where, "exec"), {"__name__": f"doc_{where}"})


def test_docs_have_examples() -> None:
    assert len(_blocks()) >= 2


def test_the_readmes_pool_examples_are_valid_pool_files(tmp_path: Path) -> None:
    """Every ```toml block with [[models]] loads as a pool; an OpenAI-compatible entry
    (an "openai/" model that is not OpenAI's) names its endpoint, or litellm calls OpenAI."""
    from agents import ModelPool

    text = (ROOT / "README.md").read_text("utf-8")
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", text, re.DOTALL) if "[[models]]" in b]
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"pool{i}.toml"
        path.write_text(re.sub(r"(?m)^  ", "", block))
        pool = ModelPool.from_file(path)
        local = [p for p in pool if p.model.startswith("openai/") and "gpt" not in p.model]
        assert all(p.api_base for p in local), block
