"""Policy state kept per arm, so that learning costs what a run touched; the JSON file
store (the embedded default) and what every store shares.

A store keeps, per pipeline, each arm's LinUCB state (A^-1, b, pulls), each intent's
pheromone levels, the count of runs learned from, and the ids of the runs credited. A
learning batch is one transaction over just the arms and intents it touches: their saved
state is read back into the in-memory policy (other processes may have learned
meanwhile), the batch is applied, and those arms and intents are written again. A run
id already credited is skipped, so a run's workflow retried after a crash credits once.
``refresh`` reloads what other processes changed since the last look, so every worker
learns from every run.

The file store: ``<dir>/<pipeline>/meta.json``, ``arms/<arm>.json``, ``intents/<intent>.json``
and ``credited.log`` (one line per run learned from), each written atomically (temp file
+ rename); a transaction holds ``.lock`` shared and a lock file per arm, intent and
bucket of run ids it touches, so transactions over other arms go on at the same time.
Files of the earlier one-file format (``<dir>/<pipeline>.json``, versions 1 and 2) are
read and converted on first load.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import orjson
import pydantic

from orchestrator.errors import StateFileError
from orchestrator.routing.linucb import LinUCB
from orchestrator.routing.pheromone import PheromoneTable
from orchestrator.routing.policy import AssignmentPolicy, RunCredit

__all__ = ["Crediting", "Loaded", "PolicyStore", "credit_touch"]

VERSION = 3  # 3: one file per arm and per intent; 2 added pheromone tables to one file
_RUN_BUCKETS = 16
"""Run ids are locked in this many buckets: two transactions crediting one run id take
the same lock (one sees the other's record), transactions of different runs seldom do."""

Loaded = tuple[LinUCB, PheromoneTable, int]
"""A loaded policy: bandit, pheromone tables, runs learned from."""
Apply = Callable[[frozenset[str]], int]
"""Applies a learning batch to the policy, skipping the run ids given; returns the runs
it learned from."""


class _LegacyFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    version: int
    pipeline: str
    updated: float
    runs: int = pydantic.Field(ge=0)
    bandit: dict[str, Any]
    pheromone: dict[str, Any] | None = None


def credit_touch(credits: Sequence[RunCredit]) -> tuple[list[str], list[str], list[str]]:
    """The arms, intents and run ids a batch of run credits touches."""
    arms = list(dict.fromkeys(name for c in credits for name, _ in c.used))
    intents = list(dict.fromkeys(c.intent for c in credits if c.used))
    runs = [c.run_id for c in credits if c.run_id]
    return arms, intents, runs


def apply_credits(policy: AssignmentPolicy, credits: Sequence[RunCredit]) -> Apply:
    """The batch that credits ``credits`` to ``policy`` (runs already credited skipped)."""

    def apply(skip: frozenset[str]) -> int:
        fresh = [c for c in credits if not (c.run_id and c.run_id in skip)]
        policy.credit_runs(fresh)
        return len(fresh)

    return apply


class Crediting:
    """``credit``, the same for every store: a batch of run credits as one ``update``."""

    def update(
        self,
        pipeline: str,
        policy: AssignmentPolicy,
        apply: Apply,
        *,
        arms: Sequence[str],
        intents: Sequence[str] = (),
        run_ids: Sequence[str] = (),
        credits: Sequence[RunCredit] = (),
    ) -> int:
        raise NotImplementedError

    def credit(self, pipeline: str, policy: AssignmentPolicy, credits: Sequence[RunCredit]) -> int:
        """Credit finished runs (each run id once, ever) in one transaction over the arms
        and intents they used; returns the runs learned from so far (-1: queued)."""
        arms, intents, run_ids = credit_touch(credits)
        return self.update(
            pipeline,
            policy,
            apply_credits(policy, credits),
            arms=arms,
            intents=intents,
            run_ids=run_ids,
            credits=credits,
        )


class PolicyStore(Crediting):
    """The JSON file store of each pipeline's policy, under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: dict[str, dict[str, int]] = {}
        """Per pipeline, the mtime of each arm and intent file as last read or written."""
        self._credited: dict[str, tuple[int, set[str]]] = {}
        """Per pipeline, how far credited.log was read and the run ids in it."""
        self._counts: dict[str, int] = {}
        """Per pipeline, the lines of credited.log read so far (runs learned from)."""
        self._lock = threading.Lock()

    def path(self, pipeline: str) -> Path:
        """The folder of ``pipeline``'s state."""
        return self.directory / pipeline

    def exists(self, pipeline: str) -> bool:
        return (self.path(pipeline) / "meta.json").exists() or self._legacy(pipeline).exists()

    def _legacy(self, pipeline: str) -> Path:
        return self.directory / f"{pipeline}.json"

    # ----------------------------------------------------------------- reading

    def load(self, pipeline: str, *, dim: int, alpha: float) -> Loaded:
        """The saved bandit, pheromone tables and run count, or fresh ones if none was
        saved. A file that cannot be read raises StateFileError and is left as it is."""
        folder = self.path(pipeline)
        if not (folder / "meta.json").exists():
            if self._legacy(pipeline).exists():
                return self._convert(pipeline, dim=dim, alpha=alpha)
            return LinUCB(dim, alpha=alpha), PheromoneTable(), 0
        meta = self._meta(pipeline, dim)
        bandit = LinUCB(dim, alpha=alpha, ridge=float(meta["ridge"]))
        pheromone = PheromoneTable(
            rho=float(meta["rho"]), gate=float(meta["gate"]), tau0=float(meta["tau0"])
        )
        seen: dict[str, int] = {}
        arms = [(self._json(p, pipeline), p) for p in (folder / "arms").glob("*.json")]
        arms.sort(key=lambda a: (a[0].get("order", 0) if isinstance(a[0], dict) else 0, a[1].name))
        for data, path in arms:  # in the order the arms had: a stage's arms stay adjacent
            self._read_arm(path, bandit, seen, data)
        for path in sorted((folder / "intents").glob("*.json")):
            self._read_intent(path, pheromone, seen)
        self._seen[pipeline] = seen
        return bandit, pheromone, int(meta["runs"]) + self._credited_count(pipeline)

    def _fix(self, pipeline: str) -> str:
        return (
            f"it was left untouched; move it away or run `orch policy reset {pipeline}` to "
            "start learning afresh"
        )

    def _json(self, path: Path, pipeline: str) -> Any:
        try:
            return orjson.loads(path.read_bytes())
        except (ValueError, OSError) as exc:
            reason = str(exc).splitlines()[0]
            raise StateFileError(
                f"policy state {str(path)!r} is corrupt ({reason}); {self._fix(pipeline)}"
            ) from None

    def _meta(self, pipeline: str, dim: int) -> dict[str, Any]:
        path = self.path(pipeline) / "meta.json"
        meta = self._json(path, pipeline)
        if not isinstance(meta, dict) or meta.get("version") != VERSION:
            raise StateFileError(
                f"policy state {str(path)!r} is corrupt (not a version-{VERSION} policy); "
                f"{self._fix(pipeline)}"
            )
        if meta.get("dim") != dim:
            raise StateFileError(
                f"policy state {str(path)!r} has {meta.get('dim')} features but this runtime "
                f"uses {dim}; {self._fix(pipeline)}"
            )
        return meta

    def _read_arm(self, path: Path, bandit: LinUCB, seen: dict[str, int], data: Any = None) -> str:
        pipeline = path.parent.parent.name
        mtime = path.stat().st_mtime_ns
        data = self._json(path, pipeline) if data is None else data
        try:
            name = str(data["arm"])
            bandit.set_arm(
                name, np.asarray(data["a_inv"]), np.asarray(data["b"]), int(data["pulls"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateFileError(
                f"policy state {str(path)!r} is corrupt ({exc}); {self._fix(pipeline)}"
            ) from None
        seen[path.name] = mtime
        return name

    def _read_intent(self, path: Path, pheromone: PheromoneTable, seen: dict[str, int]) -> None:
        pipeline = path.parent.parent.name
        mtime = path.stat().st_mtime_ns
        data = self._json(path, pipeline)
        try:
            pheromone.set_table(
                str(data["intent"]), {str(k): float(v) for k, v in data["levels"].items()}
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFileError(
                f"policy state {str(path)!r} is corrupt ({exc}); {self._fix(pipeline)}"
            ) from None
        seen[path.name] = mtime

    def refresh(self, pipeline: str, policy: AssignmentPolicy) -> int:
        """Read into ``policy`` the arms and intents other processes changed since this
        store last read or wrote them (arms ``policy`` does not know are left out);
        returns how many were read."""
        folder = self.path(pipeline)
        seen = self._seen.setdefault(pipeline, {})
        known = set(policy.bandit.arms)
        read = 0
        with policy.lock:
            for kind in ("arms", "intents"):
                for entry in os.scandir(folder / kind) if (folder / kind).is_dir() else ():
                    try:
                        mtime = entry.stat().st_mtime_ns
                    except FileNotFoundError:
                        continue
                    if seen.get(entry.name) == mtime or not entry.name.endswith(".json"):
                        continue
                    if kind == "arms" and unquote(entry.name[:-5]) not in known:
                        continue
                    path = Path(entry.path)
                    if kind == "arms":
                        self._read_arm(path, policy.bandit, seen)
                    else:
                        self._read_intent(path, policy.pheromone, seen)
                    read += 1
        return read

    # ----------------------------------------------------------------- writing

    @contextlib.contextmanager
    def locked(self, pipeline: str, parts: Sequence[str] = ()) -> Iterator[None]:
        """Hold the pipeline's lock file: exclusively without ``parts`` (a whole-policy
        write), else shared, together with an exclusive lock per part (an arm, an intent,
        a bucket of run ids), taken in sorted order. Transactions over different arms run
        at once, in threads and processes alike (each lock is its own open file)."""
        folder = self.path(pipeline)
        (folder / ".locks").mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            whole = stack.enter_context(open(folder / ".lock", "a"))
            fcntl.flock(whole, fcntl.LOCK_SH if parts else fcntl.LOCK_EX)
            for part in sorted(set(parts)):
                fh = stack.enter_context(open(folder / ".locks" / part, "a"))
                fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
            yield

    def update(
        self,
        pipeline: str,
        policy: AssignmentPolicy,
        apply: Apply,
        *,
        arms: Sequence[str],
        intents: Sequence[str] = (),
        run_ids: Sequence[str] = (),
        credits: Sequence[RunCredit] = (),
    ) -> int:
        """One learning transaction (see the module docstring): ``apply`` changes
        ``policy`` at ``arms`` and ``intents`` only. Returns the runs learned from so far."""
        folder = self.path(pipeline)
        if not (folder / "meta.json").exists():
            with self.locked(pipeline):  # the first write: the whole policy, exclusively,
                if not (folder / "meta.json").exists():  # so loads keep the arms' order
                    if self._legacy(pipeline).exists():
                        self._convert(pipeline, dim=policy.bandit.dim, alpha=policy.bandit.alpha)
                    else:
                        self._save(pipeline, policy.bandit, policy.pheromone, 0)
        parts = [f"arm-{_file(a)}" for a in arms] + [f"intent-{_file(i)}" for i in intents]
        parts += [f"runs-{zlib.crc32(r.encode()) % _RUN_BUCKETS}" for r in run_ids]
        with self.locked(pipeline, parts or ["meta"]):
            meta = self._meta(pipeline, policy.bandit.dim)
            seen = self._seen.setdefault(pipeline, {})
            skip = frozenset(self._credited_ids(pipeline)) & frozenset(run_ids)
            with policy.lock:
                for arm in arms:
                    path = folder / "arms" / _file(arm)
                    if path.exists():
                        self._read_arm(path, policy.bandit, seen)
                for intent in intents:
                    path = folder / "intents" / _file(intent)
                    if path.exists():
                        self._read_intent(path, policy.pheromone, seen)
                learned = apply(skip)
                arm_states = {a: _arm_body(policy.bandit, a) for a in arms}
                tables = {i: policy.pheromone.table_state(i) for i in intents}
            for arm, body in arm_states.items():
                seen[_file(arm)] = _write(folder / "arms" / _file(arm), body)
            for intent, levels in tables.items():
                seen[_file(intent)] = _write(
                    folder / "intents" / _file(intent), {"intent": intent, "levels": levels}
                )
            fresh = [r for r in run_ids if r not in skip]
            fresh += ["-"] * max(0, learned - len(fresh))  # runs credited without an id
            if fresh:  # one appended write: the runs learned from are its lines
                fd = os.open(folder / "credited.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                try:
                    os.write(fd, "".join(f"{r}\n" for r in fresh).encode())
                finally:
                    os.close(fd)
            return int(meta["runs"]) + self._credited_count(pipeline)

    def _credited_count(self, pipeline: str) -> int:
        self._credited_ids(pipeline)
        return self._counts.get(pipeline, 0)

    def _credited_ids(self, pipeline: str) -> set[str]:
        """Run ids credited, read incrementally from credited.log (under the lock)."""
        path = self.path(pipeline) / "credited.log"
        with self._lock:  # the cache of what was read, shared by this store's threads
            offset, ids = self._credited.get(pipeline, (0, set()))
            if path.exists():
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    tail = fh.read()
                complete = tail[: tail.rfind(b"\n") + 1]
                lines = [ln.decode("utf-8", "replace") for ln in complete.splitlines() if ln]
                ids.update(lines)
                self._counts[pipeline] = self._counts.get(pipeline, 0) + len(lines)
                offset += len(complete)
            self._credited[pipeline] = (offset, ids)
            return ids

    def save(self, pipeline: str, bandit: LinUCB, pheromone: PheromoneTable, runs: int) -> Path:
        """Write a whole policy (a conversion, or a policy built elsewhere); returns its
        folder. Under the lock; every arm and intent is written."""
        with self.locked(pipeline):
            return self._save(pipeline, bandit, pheromone, runs)

    def _save(self, pipeline: str, bandit: LinUCB, pheromone: PheromoneTable, runs: int) -> Path:
        """``save`` under the lock the caller holds."""
        folder = self.path(pipeline)
        seen = self._seen.setdefault(pipeline, {})
        for arm in bandit.arms:
            seen[_file(arm)] = _write(folder / "arms" / _file(arm), _arm_body(bandit, arm))
        for intent in pheromone.intents():
            body2 = {"intent": intent, "levels": pheromone.table_state(intent)}
            seen[_file(intent)] = _write(folder / "intents" / _file(intent), body2)
        (folder / "credited.log").unlink(missing_ok=True)  # the runs are in meta's count
        self._credited.pop(pipeline, None)
        self._counts.pop(pipeline, None)
        _write(folder / "meta.json", _new_meta(pipeline, bandit, pheromone, runs))
        return folder

    def _convert(self, pipeline: str, *, dim: int, alpha: float) -> Loaded:
        """Read an earlier one-file policy, save it in this layout, keep the old file
        renamed beside it (``.json.v2``)."""
        path = self._legacy(pipeline)
        try:
            state = _LegacyFile.model_validate_json(path.read_bytes())
            if state.version not in (1, 2):
                raise ValueError(f"version {state.version}, this runtime reads 1 to {VERSION}")
            bandit = LinUCB.from_state(state.bandit)
            pheromone = (
                PheromoneTable.from_state(state.pheromone) if state.pheromone else PheromoneTable()
            )
        except (pydantic.ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = str(exc).splitlines()[0]
            raise StateFileError(
                f"policy state {str(path)!r} is corrupt ({reason}); {self._fix(pipeline)}"
            ) from None
        if bandit.dim != dim:
            raise StateFileError(
                f"policy state {str(path)!r} has {bandit.dim} features but this runtime uses "
                f"{dim}; {self._fix(pipeline)}"
            )
        bandit.alpha = alpha
        self._save(pipeline, bandit, pheromone, state.runs)
        os.replace(path, path.with_name(f"{path.name}.v{state.version}"))
        return bandit, pheromone, state.runs

    def reset(self, pipeline: str) -> bool:
        """Delete the saved state of ``pipeline``; returns whether there was one."""
        found = self.exists(pipeline)
        shutil.rmtree(self.path(pipeline), ignore_errors=True)
        self._legacy(pipeline).unlink(missing_ok=True)
        self._seen.pop(pipeline, None)
        self._credited.pop(pipeline, None)
        return found

    def pipelines(self) -> list[str]:
        """Pipelines with saved state."""
        if not self.directory.is_dir():
            return []
        found = {p.name for p in self.directory.iterdir() if (p / "meta.json").exists()}
        found |= {p.stem for p in self.directory.glob("*.json")}
        return sorted(found)


def _new_meta(
    pipeline: str, bandit: LinUCB, pheromone: PheromoneTable, runs: int
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "pipeline": pipeline,
        "dim": bandit.dim,
        "ridge": bandit.ridge,
        "rho": pheromone.rho,
        "gate": pheromone.gate,
        "tau0": pheromone.tau0,
        "runs": runs,
        "updated": time.time(),
    }


def _arm_body(bandit: LinUCB, arm: str) -> dict[str, Any]:
    """One arm's file: its state, and its place among the arms (kept on load)."""
    a_inv, b, pulls = bandit.arm_state(arm)
    return {
        "arm": arm,
        "order": bandit.index(arm),
        "a_inv": a_inv.tolist(),
        "b": b.tolist(),
        "pulls": pulls,
    }


def _file(name: str) -> str:
    """The file name of an arm or intent (any characters, e.g. ``ollama/llama3.2``)."""
    return quote(name, safe="@-_.") + ".json"


def _write(path: Path, body: Any) -> int:
    """Write ``body`` as JSON atomically; returns the file's new mtime."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    os.replace(tmp, path)
    return path.stat().st_mtime_ns
