"""The CLI under hostile or broken input: bad bytes, damaged files, scripts that exit,
typos, broken plugins, missing keys, and keys that a provider echoes back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import ORCH, ROOT, assert_clean_error, orch
from tests.plugin_fixture import install_troubled_plugins
from tests.servers import key_echo, openai_server

pytestmark = pytest.mark.e2e


def test_a_query_with_bytes_that_are_not_utf8_runs(orch_home: Path) -> None:
    # argv as bytes: the terminal's invalid byte reaches the program as it would
    out = subprocess.run(
        [ORCH, "run", "examples/support_desk.py", "--query", b"refund order 123 \xff", "--json"],
        capture_output=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert b"Traceback" not in out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "ok" and "RF-123" in result["answer"]
    assert "\ufffd" in result["answer"]  # the bad byte, replaced


def test_a_damaged_checkpoint_database_is_refused_and_kept(orch_home: Path) -> None:
    orch_home.mkdir(parents=True)
    damaged = orch_home / "checkpoints.sqlite"
    damaged.write_bytes(b"not a database" * 100)
    out = orch("run", "examples/support_desk.py")
    assert_clean_error(out, "checkpoint database")
    assert "is unreadable (file is not a database); it was left as it is" in out.stderr
    assert damaged.read_bytes() == b"not a database" * 100


def test_a_pipeline_file_that_exits_is_an_error_not_a_silent_success(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("import sys\n\nsys.exit(0)\n")
    out = orch("run", str(script))
    assert_clean_error(out, "script.py:3: loading the file called sys.exit(0)")


def test_a_mistyped_skill_option_names_the_place_and_the_fix(tmp_path: Path) -> None:
    file = tmp_path / "typo.py"
    file.write_text(
        "from skills import skill\n\n\n"
        '@skill(produce="order")\n'
        "def find(query: str) -> str:\n"
        '    """Find it."""\n'
        "    return query\n"
    )
    out = orch("run", str(file))
    assert_clean_error(out, f"skill 'find' ({file}:4): @skill has no option 'produce'")
    assert "did you mean 'produces'?" in out.stderr


def test_skills_list_works_with_a_broken_and_a_clashing_plugin_installed(tmp_path: Path) -> None:
    site = install_troubled_plugins(tmp_path / "site")
    out = orch("skills", "list", "examples/support_desk.py", env={"PYTHONPATH": str(site)})
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "plugin:orch-weather-skills" in rows["weather"] and "[builtin]" in rows["calculate"]
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: ")]
    assert any("zz-broken-skills" in w and "failed to load" in w for w in warnings)
    assert any("skipped skill 'weather'" in w for w in warnings)
    assert "Traceback" not in out.stderr
    run = orch("run", "examples/support_desk.py", env={"PYTHONPATH": str(site)})
    assert run.returncode == 0, run.stderr  # pipelines keep running


def test_a_missing_api_key_stops_the_run_before_any_call(tmp_path: Path) -> None:
    pool = tmp_path / "pool.toml"
    pool.write_text(
        "".join(
            f'[[models]]\nname = "{name}"\nbackend = "litellm"\nmodel = "openai/gpt-4o-mini"\n'
            'api_key_env = "ORCH_TEST_MISSING_KEY"\ninput_price = 0.15\noutput_price = 0.6\n'
            for name in ("mini", "standard", "large")
        )
    )
    os.environ.pop("ORCH_TEST_MISSING_KEY", None)
    out = orch("run", "examples/research.py", "--pool", str(pool))
    assert_clean_error(out, "API keys are not set for 'large' (openai/gpt-4o-mini) reads")
    assert "'mini' (openai/gpt-4o-mini) reads $ORCH_TEST_MISSING_KEY" in out.stderr


SECRET = "sk-orchtest-7f3b9c2e5a1d4e8f"


def test_a_key_the_provider_echoes_appears_nowhere(tmp_path: Path, orch_home: Path) -> None:
    with openai_server(key_echo) as base:
        pool = tmp_path / "pool.toml"
        pool.write_text(
            "".join(
                f'[[models]]\nname = "{name}"\nbackend = "litellm"\nmodel = "openai/served"\n'
                f'api_base = "{base}"\napi_key_env = "ORCH_TEST_SECRET"\n'
                "input_price = 0.1\noutput_price = 0.1\n"
                for name in ("mini", "standard", "large")
            )
        )
        env = {"ORCH_TEST_SECRET": SECRET}
        runs = [
            orch("run", "examples/support_desk.py", "--pool", str(pool), env=env),
            orch("run", "examples/support_desk.py", "--pool", str(pool), "--json", env=env),
        ]
    outputs = []
    for out in runs:
        assert out.returncode == 1, (out.stdout, out.stderr)  # the provider refused the key
        assert "401" in out.stderr or "AuthenticationError" in out.stderr
        assert "[REDACTED]" in out.stdout + out.stderr  # the echo was there, redacted
        outputs += [out.stdout, out.stderr]
    run_id = json.loads(runs[1].stdout)["run_id"]
    shown = orch("trace", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    outputs += [shown.stdout, shown.stderr, orch("trace", "list").stdout]
    for text in outputs:
        assert SECRET not in text and SECRET[3:] not in text
    files = [p for p in orch_home.rglob("*") if p.is_file()]
    assert any(p.name == "checkpoints.sqlite" for p in files)
    assert any(p.suffix == ".jsonl" for p in files)
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data and SECRET[3:].encode() not in data, path
