"""A spend cap shared by every run of a pipeline: reserved before each model call,
settled after, refused as a ``budget`` decision and a clear run failure once the window's
spend would pass it; held by threads, processes (a SQLite file) and machines (Redis)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestrator import ScriptedModel, SpendCap
from orchestrator.errors import DefinitionError
from orchestrator.execution import Runtime
from orchestrator.routing.spendcap import FileLedger, RedisLedger, SpendLedger
from orchestrator.testing import scripted_pool
from tests.conftest import make_desk
from tests.servers import free_port

CAP = SpendCap(0.05, per="day")


@pytest.fixture(params=["file", "redis"])
def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SpendLedger]:
    prefix = f"t{free_port()}"

    def make() -> SpendLedger:  # each call: another process's ledger of the same spend
        if request.param == "file":
            return FileLedger(tmp_path / "spend.sqlite")
        return RedisLedger(request.getfixturevalue("redis_url"), prefix=prefix)

    return make


def test_concurrent_reservations_never_pass_the_cap(make_ledger: Callable[[], SpendLedger]) -> None:
    ledgers = [make_ledger(), make_ledger()]
    granted: list[float] = []
    lock = threading.Lock()

    def spend(i: int) -> None:
        held = ledgers[i % 2].reserve("p", CAP, 0.003)
        if held.granted:
            ledgers[i % 2].settle("p", held, 0.002)  # the real cost, less than expected
            with lock:
                granted.append(0.002)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(spend, range(64)))
    total = ledgers[0].spent("p", CAP)
    assert total == pytest.approx(sum(granted)) and total <= CAP.usd
    assert len(granted) >= 16  # settled calls left room for more than cap / expected


def test_runs_fail_clearly_once_the_shared_cap_is_reached(
    make_ledger: Callable[[], SpendLedger],
) -> None:
    desk = make_desk(spend_cap=CAP)
    pool = scripted_pool(ScriptedModel(name="m"), prices=[200.0])  # about $0.01 a call
    runtimes = [Runtime(desk, pool=pool, ledger=make_ledger(), learn=False) for _ in range(2)]
    with ThreadPoolExecutor(8) as workers:
        results = list(workers.map(lambda i: runtimes[i % 2].run(f"refund order {i}"), range(32)))
    spent = sum(r.cost_usd for r in results)
    assert spent <= CAP.usd
    assert runtimes[0].ledger is not None
    assert runtimes[0].ledger.spent(desk.name, CAP) == pytest.approx(spent)
    refused = [r for r in results if r.status == "failed"]
    assert refused and all("spend cap $0.05 per day" in (r.error or "") for r in refused)
    budget = [d for r in refused for d in r.decisions if d.kind == "budget"]
    assert budget and "spent or reserved in this window" in budget[0].reason
    for rt in runtimes:
        rt.close()


def test_a_spend_cap_must_make_sense() -> None:
    with pytest.raises(DefinitionError, match="usd must be a number > 0"):
        SpendCap(0)
    with pytest.raises(DefinitionError, match="per must be one of"):
        SpendCap(5, per="fortnight")
    assert SpendCap(5, per=3600).per_s == 3600 and str(SpendCap(5)) == "$5 per day"
    with pytest.raises(DefinitionError, match="spend_cap must be a SpendCap"):
        make_desk(spend_cap=5.0)
