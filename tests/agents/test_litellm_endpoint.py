"""litellm-backed pool entries against a real OpenAI-compatible HTTP server (llm-katan)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from agents import ModelPool, ModelProfile
from agents.litellm_model import fault_kind
from orchestrator import Pipeline, Runtime
from orchestrator.errors import PoolConfigError
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


def test_a_missing_api_key_stops_the_run_before_any_call(
    desk: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # found when the runtime is built, not mid-run after other calls were paid
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ORCH_TEST_KEY", raising=False)
    pool = ModelPool(
        [
            ModelProfile(
                name="nokey",
                backend="litellm",
                model="openai/gpt-4o-mini",
                input_price=0.15,
                output_price=0.6,
            ),
            ModelProfile(
                name="explicit",
                backend="litellm",
                model="openai/served",
                api_base="http://127.0.0.1:9/v1",
                api_key_env="ORCH_TEST_KEY",
                input_price=0.0,
                output_price=0.0,
            ),
        ]
    )
    with pytest.raises(
        PoolConfigError,
        match=r"'explicit' \(openai/served\) reads \$ORCH_TEST_KEY; 'nokey' "
        r"\(openai/gpt-4o-mini\) needs \$OPENAI_API_KEY",
    ):
        Runtime(desk, pool=pool)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key-0000")
    monkeypatch.setenv("ORCH_TEST_KEY", "local-key-0000")
    Runtime(desk, pool=pool).close()  # both keys set: built


def test_missing_credentials_are_a_callers_mistake_not_an_endpoint_fault() -> None:
    # the OpenAI client's refusal without a key, which litellm reports as a 500
    refused = RuntimeError("litellm.InternalServerError: Missing credentials. Please pass ...")
    assert fault_kind(refused) is None
    assert fault_kind(TimeoutError("read timed out")) == "timeout"
