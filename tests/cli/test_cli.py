"""End to end: the real `orch` CLI in a subprocess, as a user would drive it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugin_fixture import install_plugin
from tests.servers import llm_katan, otlp_receiver

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ORCH = str(Path(sys.executable).with_name("orch"))


def orch(
    *args: str, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [ORCH, *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=timeout
    )


def assert_clean_error(out: subprocess.CompletedProcess[str], needle: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["run"],
        ["skills"],
        ["skills", "list"],
        ["trace"],
        ["trace", "list"],
        ["trace", "show"],
        ["trace", "prune"],
        ["policy"],
        ["policy", "show"],
        ["policy", "reset"],
        ["eval"],
        ["eval", "routing"],
        ["eval", "compound"],
    ],
)
def test_every_command_has_help(cmd: list[str]) -> None:
    out = orch(*cmd, "--help")
    assert out.returncode == 0 and "Usage: orch" in out.stdout
    assert len(out.stdout.splitlines()) >= 3


def test_run_example_then_read_its_trace(orch_home: Path) -> None:
    out = orch("run", "examples/support_desk.py")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines())
    run_id = lines["run"].split()[0]
    assert "RF-123" in lines["answer"]
    assert lines["cost"].strip().startswith("$")
    assert "intent=refund" in lines["summary"] and "triage->refund->review" in lines["summary"]
    assert (
        "assign: triager=" in lines["summary"]
        and "tools: extract_order_id->lookup_order" in lines["summary"]
    )
    assert (orch_home / "traces" / f"{run_id}.jsonl").is_file()

    # before any work, the run's id on stderr; progress only on a terminal, unless asked for
    assert out.stderr.splitlines() == [f"started run {run_id} (if it stops: orch resume {run_id})"]
    shown_live = orch("run", "examples/support_desk.py", "--progress")
    stages = [ln.split()[:3] for ln in shown_live.stderr.splitlines()[1:]]
    assert [s[:2] for s in stages] == [
        ["1", "triage"],
        ["2", "refund"],
        ["3", "review"],
        ["4", "done"],
    ]
    assert stages[0][2].startswith("triager@") and shown_live.stdout.startswith("answer:")

    listed = orch("trace", "list")
    assert listed.returncode == 0 and run_id in listed.stdout and "support-desk" in listed.stdout
    assert run_id in orch("trace", "list", "--status", "ok", "--pipeline", "support-desk").stdout
    none = orch("trace", "list", "--status", "failed")
    assert none.returncode == 0 and run_id not in none.stdout
    assert "no traced run with status 'failed' among 2" in none.stdout
    shown = orch("trace", "show", run_id[:6])
    assert shown.returncode == 0, shown.stderr
    tree = shown.stdout
    for needle in (
        "invoke_workflow support-desk",
        "◆ intent: refund",
        "invoke_agent resolver",
        "◆ assign: resolver@",
        "= mean",
        "+ pheromone 0.",
        "◆ tool_path: extract_order_id->lookup_order->issue_refund",
        "execute_tool issue_refund",
        "chat ",
        "in /",
        "◆ stage: review",
    ):
        assert needle in tree, needle


def test_custom_query_guard_block_and_json(orch_home: Path) -> None:
    out = orch("run", "examples/support_desk.py", "--query", "refund order 456", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "escalated" and result["trail"][-1] == "escalate"
    kinds = [d["kind"] for d in result["decisions"]]
    assert "guard_block" in kinds and "escalate" in kinds
    shown = orch("trace", "show", result["run_id"])
    assert "✗ guard_block" in shown.stdout and "precondition rejected" in shown.stdout


def test_policy_state_persists_between_invocations(orch_home: Path) -> None:
    for _ in range(2):
        assert orch("run", "examples/research.py").returncode == 0
    # a question the example's notes do not cover is escalated, not a failed run
    off_topic = orch("run", "examples/research.py", "--query", "how do tides work", "--json")
    assert off_topic.returncode == 0, off_topic.stderr
    escalated = json.loads(off_topic.stdout)
    assert escalated["status"] == "escalated" and escalated["trail"][-1] == "no_sources"
    shown = orch("policy", "show", "research")
    assert shown.returncode == 0 and "3 runs learned from" in shown.stdout
    by_file = orch("policy", "show", "examples/research.py")  # the file names it too
    assert by_file.returncode == 0 and by_file.stdout == shown.stdout
    assert_clean_error(orch("policy", "show", "reserch"), "did you mean 'research'?")
    assert orch("policy", "reset", "examples/research.py").stdout.strip() == "reset research"
    assert_clean_error(orch("policy", "show", "research"), "no learned policy for 'research'")
    assert_clean_error(orch("policy", "show", "nope.py"), "file 'nope.py' does not exist")


def test_corrupt_policy_state_is_refused_and_kept(orch_home: Path) -> None:
    state = orch_home / "policy" / "research.json"
    state.parent.mkdir(parents=True)
    state.write_text("not json")
    assert_clean_error(orch("run", "examples/research.py"), "is corrupt")
    assert state.read_text() == "not json"


def test_bad_input_exits_2_with_one_line(tmp_path: Path, orch_home: Path) -> None:
    assert_clean_error(orch("run", "nope.py"), "file 'nope.py' does not exist")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert_clean_error(orch("run", str(empty)), "defines no pipeline")
    broken = tmp_path / "broken.py"
    broken.write_text(
        "from orchestrator import Pipeline, Role, Stage\n"
        "pipeline = Pipeline('p', stages=[Stage('a', roles=['ghost'], next=['b']),"
        " Stage('b', terminal=True)], roles=[Role('r', 'Do.')])\n"
    )
    assert_clean_error(orch("run", str(broken)), "stage 'a' names role 'ghost'")
    assert_clean_error(orch("trace", "show", "feedbeef"), "no traced run 'feedbeef'")
    bad_pool = tmp_path / "pool.toml"
    bad_pool.write_text("[[models]]\nname = 'mini'\ninput_price = -1\n")
    assert_clean_error(
        orch("run", "examples/research.py", "--pool", str(bad_pool)), "models.0.input_price"
    )
    bad_pool.write_text("[[models\n")
    assert_clean_error(
        orch("run", "examples/research.py", "--pool", str(bad_pool)), "not valid TOML"
    )
    bad_pool.write_text("[[models]]\nname = 'other'\n")
    assert_clean_error(
        orch("run", "examples/research.py", "--pool", str(bad_pool)),
        "names model 'mini', which the pool does not define",
    )


def test_skills_list_shows_plugins_and_file_skills(tmp_path: Path) -> None:
    site = install_plugin(tmp_path / "site")
    out = orch("skills", "list", "examples/support_desk.py", env={"PYTHONPATH": str(site)})
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "(city, days)" in rows["weather"] and "plugin:orch-weather-skills" in rows["weather"]
    assert (
        "(order_id, order)" in rows["issue_refund"]
        and "examples/support_desk.py" in rows["issue_refund"]
    )
    assert "[builtin]" in rows["calculate"]


def test_console_and_otlp_exporters(orch_home: Path) -> None:
    out = orch("run", "examples/research.py", "--trace", "console")
    assert out.returncode == 0, out.stderr
    assert '"name": "invoke_workflow research"' in out.stdout
    assert "orchestrator.decision" in out.stdout

    with otlp_receiver() as (endpoint, received):
        out = orch("run", "examples/research.py", "--trace", "otlp", "--otlp-endpoint", endpoint)
        assert out.returncode == 0, out.stderr
    names = {
        span.name
        for req in received
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert {
        "invoke_workflow research",
        "invoke_agent planner",
        "execute_tool search_notes",
    } <= names
    assert any(n.startswith("chat ") for n in names)
    assert "warning" not in out.stderr


def test_otlp_without_a_collector_is_refused_and_a_refused_export_is_reported(
    orch_home: Path,
) -> None:
    from tests.servers import faulty_openai, free_port

    nobody = f"http://127.0.0.1:{free_port()}/v1/traces"
    assert_clean_error(  # before the run: it used to retry for 10 s after it, then drop the spans
        orch("run", "examples/research.py", "--trace", "otlp", "--otlp-endpoint", nobody),
        f"no OTLP collector answers at {nobody}",
    )
    assert_clean_error(
        orch("run", "examples/research.py", "--trace", "otlp", "--otlp-endpoint", "host:4318"),
        "is not an http(s) URL",
    )
    with faulty_openai(404) as base:  # a server that answers, at the wrong path
        out = orch("run", "examples/research.py", "--trace", "otlp", "--otlp-endpoint", base)
    assert out.returncode == 0, out.stderr
    warning = [ln for ln in out.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "did not reach the OTLP collector" in warning[0]


def test_pool_file_routes_examples_to_a_real_http_model(tmp_path: Path, orch_home: Path) -> None:
    with llm_katan() as url:
        pool = tmp_path / "pool.toml"
        pool.write_text(
            "".join(
                f"[[models]]\nname = '{n}'\nbackend = 'litellm'\nmodel = 'openai/test-model'\n"
                f"api_base = '{url}'\ninput_price = 0.5\noutput_price = 1.5\n\n"
                for n in ("mini", "standard", "large")
            )
        )
        out = orch("run", "examples/research.py", "--pool", str(pool), "--json", timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "ok" and result["cost_usd"] > 0
    assert result["trail"][:4] == ["plan", "research", "write", "critique"]


def test_exam_router_replays_real_models_offline(orch_home: Path) -> None:
    for _ in range(2):
        out = orch("run", "examples/exam_router.py", "--json")
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "ok" and result["quality"] in (0.0, 1.0)
        assert "recorded answer of" in result["answer"] and result["cost_usd"] > 0
    shown = orch("policy", "show", "exam-router")
    assert "2 runs learned from" in shown.stdout and "pheromone[" in shown.stdout
    aborted = orch("run", "examples/exam_router.py", "--query", "write a poem")
    # the run had started (its id said so first); then the one line of what to fix
    started, error = aborted.stderr.strip().splitlines()
    assert started.startswith("started run ") and aborted.returncode == 2
    assert error.startswith("error: ") and "no record of this request" in error
    # the aborted run is traced as failed, with the reason
    listed = orch("trace", "list").stdout.splitlines()[0]
    assert "exam-router" in listed and "failed" in listed and "write a poem" in listed, listed
    shown = orch("trace", "show", listed.split()[0]).stdout
    assert "status failed" in shown and "no record of this request" in shown


def test_parallel_cli_runs_all_count(orch_home: Path) -> None:
    procs = [
        subprocess.Popen(
            [ORCH, "run", "examples/research.py"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert "3 runs learned from" in orch("policy", "show", "research").stdout


def test_resume_a_failed_run_from_the_cli(tmp_path: Path, orch_home: Path) -> None:
    marker = tmp_path / "outage-over"
    flaky = tmp_path / "flaky.py"
    flaky.write_text(
        "from pathlib import Path\n"
        "from orchestrator import Pipeline, Role, ScriptedModel, Stage\n"
        "from orchestrator.testing import scripted_pool\n"
        f"MARKER = Path({str(marker)!r})\n"
        "def answer(messages):\n"
        "    if 'Stage: write' in messages[-1].content and not MARKER.exists():\n"
        "        MARKER.touch()\n"
        "        raise RuntimeError('HTTP 503 from the provider')\n"
        "    return 'done\\nNEXT: ' + ('write' if 'Stage: plan' in messages[-1].content else 'end')\n"
        "pipeline = Pipeline('flaky', stages=[\n"
        "    Stage('plan', roles=['r'], next=['write'], start=True),\n"
        "    Stage('write', roles=['r'], next=['end']), Stage('end', terminal=True)],\n"
        "    roles=[Role('r', 'Work.')], sample_query='write a report',\n"
        "    pool=scripted_pool(ScriptedModel([answer] * 10, name='m')))\n"
    )
    first = orch("run", str(flaky), "--json")
    assert first.returncode == 1 and "HTTP 503" in first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    assert f"`orch resume {run_id}` continues from the failed stage" in first.stderr
    listed = orch("runs", "list")
    assert run_id in listed.stdout and "failed" in listed.stdout and "HTTP 503" in listed.stdout
    again = orch("resume", run_id, "--json")  # by id alone: the run knows its file
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["status"] == "ok" and result["trail"] == ["plan", "write", "end"]
    rows = {r["run_id"]: r for r in json.loads(orch("runs", "list", "--json").stdout)}
    assert rows[run_id]["status"] == "ok" and rows[run_id]["pipeline"] == "flaky"
    assert_clean_error(orch("resume", run_id), "already finished")
    assert_clean_error(orch("run", str(flaky), "--resume", run_id), "already finished")
    assert_clean_error(orch("resume", "nope"), "no run 'nope'")
    assert_clean_error(orch("run", str(flaky), "--resume", run_id, "--query", "x"), "drop --query")


def test_damaged_inputs_exit_2_with_one_line(tmp_path: Path, orch_home: Path) -> None:
    bad_py = tmp_path / "latin.py"
    bad_py.write_bytes(b'x = "\xff\xfe"\n')
    assert_clean_error(orch("run", str(bad_py)), "codec can't decode")
    bad_pool = tmp_path / "pool.toml"
    bad_pool.write_bytes(b'[[models]]\nname = "\xff"\n')
    assert_clean_error(
        orch("run", "examples/research.py", "--pool", str(bad_pool)), "not valid TOML"
    )
    traces = orch_home / "traces"
    traces.mkdir(parents=True)
    (traces / "abc123.jsonl").write_text("garbage\n")
    (traces / "abd456.jsonl").write_text("{}\n")
    assert_clean_error(orch("trace", "show", "abc"), "is unreadable")
    assert_clean_error(orch("trace", "show", "abd"), "line 1 is not a span")
    assert_clean_error(orch("trace", "show", "ab"), "is ambiguous")
    assert_clean_error(orch("run", "examples/research.py", "--query", "  "), "the query is empty")
    assert_clean_error(
        orch("run", "examples/research.py", "--model", "no-such-model"), "litellm cannot route"
    )
    assert_clean_error(orch("run", "examples/research.py", "--model", ""), "model string is empty")
    assert_clean_error(orch("run", "examples/research.py", "--scope", " "), "the scope is empty")


def test_skills_graph_shows_each_stage_graph_and_its_plan() -> None:
    out = orch("skills", "graph", "examples/support_desk.py")
    assert out.returncode == 0, out.stderr
    assert "stage 'refund', role 'resolver':" in out.stdout
    assert "goal 'refund_id'; producers: issue_refund" in out.stdout
    assert (
        "planned from query, intent: extract_order_id -> lookup_order -> issue_refund" in out.stdout
    )
    assert "next: issue_refund, lookup_order, lookup_order_archive" in out.stdout
    assert_clean_error(orch("skills", "graph", "nope.py"), "nope.py")


def test_run_with_a_scope_remembers_between_invocations(tmp_path: Path) -> None:
    env = {"ORCH_HOME": str(tmp_path / "home")}
    first = orch("run", "examples/support_desk.py", "--scope", "alice", "--json", env=env)
    assert first.returncode == 0, first.stderr
    second = orch(
        "run",
        "examples/support_desk.py",
        "--scope",
        "alice",
        "--query",
        "where is my refund for order 123?",
        "--json",
        env=env,
    )
    assert second.returncode == 0, second.stderr
    decisions = json.loads(second.stdout)["decisions"]
    recalled = [d for d in decisions if d["kind"] == "memory_tier" and "episodic" in d["chosen"]]
    assert recalled and "episodic/high 3/3" in recalled[0]["reason"]  # the first run's 3 answers
    assert (tmp_path / "home" / "memory" / "memory.log").exists()
    assert_clean_error(
        orch("run", "examples/support_desk.py", "--memory-url", "redis://x", env=env), "--scope"
    )


OUTAGE_PIPELINE = """
import os

import redis

from orchestrator import Pipeline, Role, Stage
from skills import skill


@skill(produces="outage")
def pull_the_plug(query: str) -> str:
    \"\"\"Shut the shared memory store down in the middle of the run.\"\"\"
    try:
        redis.Redis.from_url(os.environ["OUTAGE_REDIS_URL"]).shutdown(nosave=True)
    except redis.exceptions.ConnectionError:
        pass  # the server closes the connection as it goes
    return "down"


pipeline = Pipeline(
    "outage",
    stages=[
        Stage("first", roles=["writer"], next=["second"], start=True),
        Stage("second", roles=["closer"], skills=[pull_the_plug], goal="outage", next=["done"]),
        Stage("done", terminal=True),
    ],
    roles=[
        Role("writer", "Answer the request."),
        Role("closer", "Finish the answer.", skills=[pull_the_plug]),
    ],
    sample_query="note that the meeting moved to friday",
)
"""


def test_run_with_shared_memory_in_redis_keeps_what_an_outage_would_lose(tmp_path: Path) -> None:
    from memory.redis_store import RedisStore
    from tests.servers import free_port, redis_server

    env = {"ORCH_HOME": str(tmp_path / "home")}
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    assert_clean_error(  # nothing listens there yet: refused before the run, not silently local
        orch("run", "examples/support_desk.py", "--scope", "bob", "--memory-url", url, env=env),
        f"Redis at {url} is unreachable",
    )
    assert_clean_error(
        orch(
            "run", "examples/support_desk.py", "--scope", "bob", "--memory-url", "host:1", env=env
        ),
        "is not a Redis URL",
    )
    pipeline = tmp_path / "outage.py"
    pipeline.write_text(OUTAGE_PIPELINE)
    with redis_server(port):
        out = orch(
            "run", str(pipeline), "--scope", "bob", "--memory-url", url,
            env={**env, "OUTAGE_REDIS_URL": url},
        )  # fmt: skip
    # the first stage's answer reached Redis; the second's was written after it went down
    assert out.returncode == 0, out.stderr
    assert "status ok" in out.stdout
    warning = [ln for ln in out.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "went down during the run; 1 memory write(s)" in warning[0]
    unsent = list((tmp_path / "home" / "memory").glob("unsent-*.jsonl"))
    assert len(unsent) == 1 and str(unsent[0]) in warning[0]
    with redis_server(port):  # back, empty (no persistence): the next run sends the kept write
        again = orch(
            "run", "examples/support_desk.py", "--scope", "bob", "--memory-url", url, env=env
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "memory: sent 1 write kept from an earlier run" in again.stderr
        assert not unsent[0].exists()
        keys = {i.key for i in RedisStore(url).items("episodic", "bob")}
    assert "closer (second)" in keys  # the write the outage would have lost
    assert "reviewer (review)" in keys  # and this run's own


def test_trace_prune_frees_old_runs_and_keeps_the_newest(orch_home: Path) -> None:
    for example in ("support_desk", "research", "research"):
        assert orch("run", f"examples/{example}.py").returncode == 0
    traces = orch_home / "traces"
    listed = [ln.split()[0] for ln in orch("trace", "list").stdout.splitlines()]
    assert len(listed) == 3 and len(list(traces.glob("*.jsonl"))) == 3

    assert_clean_error(orch("trace", "prune"), "say which runs to remove")
    assert_clean_error(orch("trace", "prune", "--keep", "1", "--pipeline", "reserch"), "'research'")
    bad_age = orch("trace", "prune", "--older-than", "7x")
    assert bad_age.returncode == 2 and "write a number and a unit" in bad_age.stderr

    dry = orch("trace", "prune", "--keep", "1", "--dry-run")
    assert dry.returncode == 0 and "would remove 2 traced runs" in dry.stdout
    assert listed[1] in dry.stdout and listed[0] not in dry.stdout
    assert len(list(traces.glob("*.jsonl"))) == 3  # a dry run removes nothing
    assert "removed 0 traced runs" in orch("trace", "prune", "--older-than", "1d").stdout

    done = orch("trace", "prune", "--keep", "1", "--pipeline", "research")
    assert (
        done.returncode == 0 and "removed 1 traced run (" in done.stdout and "2 left" in done.stdout
    )
    left = [ln.split()[0] for ln in orch("trace", "list").stdout.splitlines()]
    assert left == [listed[0], listed[2]]  # the newest research run and the support desk's
    assert orch("trace", "prune", "--older-than", "0m").returncode == 0
    assert list(traces.glob("*.jsonl")) == []
