"""litellm-backed pool entries against a real OpenAI-compatible HTTP server (llm-katan)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from agents import ModelPool, ModelProfile
from orchestrator import Pipeline, Runtime
from orchestrator.testing import span_recorder
from orchestrator.tracing.spans import ATTR
from tests.servers import llm_katan


@pytest.fixture(scope="module")
def katan() -> Iterator[str]:
    with llm_katan() as url:
        yield url


def test_litellm_model_answers_through_real_http(katan: str, desk: Pipeline) -> None:
    pool = ModelPool(
        [
            ModelProfile(
                name="katan",
                backend="litellm",
                model="openai/test-model",
                api_base=katan,
                input_price=1.0,
                output_price=2.0,
            )
        ]
    )
    provider, exporter = span_recorder()
    result = Runtime(desk, pool=pool, tracer_provider=provider).run("refund order 42")
    assert result.status == "ok", result.error
    assert result.trail == ("triage", "resolve", "review", "done")
    chats = [s for s in exporter.get_finished_spans() if s.name == "chat katan"]
    assert len(chats) == 3
    a = chats[0].attributes
    assert a[ATTR.PROVIDER] == "openai"
    assert a[ATTR.INPUT_TOKENS] > 0
    expected = (a[ATTR.INPUT_TOKENS] * 1.0 + a[ATTR.OUTPUT_TOKENS] * 2.0) / 1e6
    assert a[ATTR.COST] == pytest.approx(expected)


def test_unreachable_endpoint_fails_the_run_naming_the_model(desk: Pipeline) -> None:
    from tests.servers import free_port

    pool = ModelPool(
        [
            ModelProfile(
                name="gone",
                backend="litellm",
                model="openai/test-model",
                api_base=f"http://127.0.0.1:{free_port()}/v1",
                timeout_s=5,
            )
        ]
    )
    result = Runtime(desk, pool=pool).run("refund order 1")
    assert result.status == "failed"
    assert "model 'gone' (openai/test-model) failed" in (result.error or "")


def test_litellm_is_imported_only_when_a_litellm_model_is_called() -> None:
    probe = (
        "import sys\n"
        "from orchestrator.cli import cli\n"
        "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "assert 'litellm' not in sys.modules, 'orch --help imported litellm'\n"
        "from orchestrator import Runtime\n"
        "from orchestrator.definition.loader import load_pipeline\n"
        "p, _ = load_pipeline('examples/support_desk.py')\n"
        "Runtime(p).run()\n"
        "assert 'litellm' not in sys.modules, 'an offline run imported litellm'\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("clean")


def test_pool_file_refuses_model_names_litellm_cannot_route(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from orchestrator.errors import PoolConfigError

    f = tmp_path / "pool.toml"
    f.write_text("[[models]]\nname = 'x'\nbackend = 'litellm'\nmodel = 'nonexistent-model-xyz'\n")
    with pytest.raises(PoolConfigError, match="litellm cannot route"):
        ModelPool.from_file(f)
    f.write_text("[[models]]\nname = 'x'\nbackend = 'litellm'\nmodel = 'openai/gpt-4o-mini'\n")
    assert ModelPool.from_file(f).names() == ["x"]


def test_a_missing_api_key_is_a_callers_mistake_not_an_endpoint_fault(
    desk: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the OpenAI client refuses before any request; litellm reports that as a 500
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pool = ModelPool(
        [
            ModelProfile(name="nokey", backend="litellm", model="openai/gpt-4o-mini"),
            ModelProfile(name="nokey2", backend="litellm", model="openai/gpt-4o"),
        ]
    )
    rt = Runtime(desk, pool=pool)
    result = rt.run("refund order 1")
    assert result.status == "failed"
    assert "Missing credentials" in (result.error or "")
    assert "unavailable" not in (result.error or "")  # not failed over as an outage
    assert not [d for d in result.decisions if d.kind == "reroute"]
    assert all(s.state == "closed" for s in rt.breakers.states())
