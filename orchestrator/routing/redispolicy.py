"""Policy state in Redis, shared by every worker on every machine: the same per-arm
transactions as the file store (``policystore.py``), on plain Redis commands.

Keys, per pipeline ``P`` (prefix ``orch:policy``):

- ``P:meta`` a HASH: dim, ridge, pheromone settings, runs learned from;
- ``P:arm:<arm>`` one arm's state as bytes (pulls, then A^-1 and b as float64);
- ``P:intent:<intent>`` one intent's pheromone levels (JSON);
- ``P:versions`` a HASH key -> writes, which ``refresh`` compares to what it last read;
- ``P:credited:<run id>`` set once a run is credited (kept 30 days).

A learning transaction WATCHes the keys it touches, reads them, applies the batch and
writes them in one MULTI/EXEC; a concurrent write to one of them makes EXEC fail and the
transaction is run again from the fresh state, so no update is lost. When Redis cannot
be reached, the batch stays queued in this process and is applied, in order, by the next
transaction that reaches it (``pending`` says how many wait).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.errors import StateFileError, StoreUnavailable
from orchestrator.redaction import redact
from orchestrator.routing.linucb import LinUCB
from orchestrator.routing.pheromone import PheromoneTable
from orchestrator.routing.policy import AssignmentPolicy, RunCredit
from orchestrator.routing.policystore import Apply, Crediting, Loaded

__all__ = ["RedisPolicyStore"]

_CREDITED_TTL_S = 30 * 24 * 3600
_RETRIES = 50


class RedisPolicyStore(Crediting):
    """Each pipeline's policy in the Redis server at ``url`` (see the module docstring)."""

    def __init__(self, url: str, *, prefix: str = "orch:policy", timeout_s: float = 2.0) -> None:
        from memory.redisconn import connect, unreachable_errors, watch_error

        self.url = url
        self.prefix = prefix
        self._r: Any = connect(url, timeout_s=timeout_s)
        self._errors = unreachable_errors()
        self._watch_error = watch_error()
        self._seen: dict[str, dict[str, int]] = {}
        self._queued: list[
            tuple[str, AssignmentPolicy, Apply, Sequence[str], Sequence[str], Sequence[str]]
        ] = []
        self._credits: list[tuple[str, list[RunCredit]]] = []
        """Per queued batch, its pipeline and the runs it credits (for ``spill``)."""
        self._lock = threading.Lock()

    def spill(self, path: Path) -> int:
        """Append the run credits still queued (Redis away) to ``path`` and forget them;
        returns how many runs. ``replay`` applies them later (a run id credits once, so a
        replay twice is harmless)."""
        with self._lock:
            lines = [
                json.dumps({"pipeline": p, "credits": [list(c) for c in cs]})
                for p, cs in self._credits
                if cs
            ]
            runs = sum(len(cs) for _, cs in self._credits)
            self._queued.clear()
            self._credits.clear()
        if lines:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in lines))
        return runs

    def replay(self, path: Path, pipeline: str, policy: AssignmentPolicy) -> int:
        """Credit the runs an earlier process spilled to ``path`` for ``pipeline``
        (claimed by a rename; what is still unsent is spilled again by the next
        ``spill``); returns how many runs were applied."""
        claimed = path.with_name(f"{path.name}.{os.getpid()}.replaying")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            return 0
        applied = 0
        others = []
        for line in claimed.read_text("utf-8").splitlines():
            batch = json.loads(line)
            if batch["pipeline"] != pipeline:
                others.append(line)
                continue
            credits = [RunCredit(*c) for c in batch["credits"]]
            if self.credit(pipeline, policy, credits) >= 0:
                applied += len(credits)
        if others:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in others))
        claimed.unlink()
        return applied

    @property
    def pending(self) -> int:
        """Learning batches waiting for Redis to be reachable again."""
        return len(self._queued)

    def ping(self) -> None:
        """StoreUnavailable when the server does not answer."""
        self._call("reach it", self._r.ping)

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._errors as exc:
            raise StoreUnavailable(
                redact(
                    f"Redis at {self.url} is unreachable ({type(exc).__name__}: {exc}) while "
                    f"trying to {what}"
                )
            ) from None

    def _key(self, pipeline: str, *parts: str) -> str:
        return ":".join((self.prefix, pipeline, *parts))

    # ----------------------------------------------------------------- reading

    def exists(self, pipeline: str) -> bool:
        return bool(self._call("read the policy", self._r.exists, self._key(pipeline, "meta")))

    def load(self, pipeline: str, *, dim: int, alpha: float) -> Loaded:
        """The shared policy of ``pipeline`` (fresh when none is stored)."""
        meta = self._call("read the policy", self._r.hgetall, self._key(pipeline, "meta"))
        if not meta:
            return LinUCB(dim, alpha=alpha), PheromoneTable(), 0
        meta = {k.decode(): v.decode() for k, v in meta.items()}
        if int(meta["dim"]) != dim:
            raise StateFileError(
                f"the policy of {pipeline!r} in Redis at {redact(self.url)} has {meta['dim']} "
                f"features but this runtime uses {dim}; run `orch policy reset {pipeline}` "
                "with this --state-url to start learning afresh"
            )
        bandit = LinUCB(dim, alpha=alpha, ridge=float(meta["ridge"]))
        pheromone = PheromoneTable(
            rho=float(meta["rho"]), gate=float(meta["gate"]), tau0=float(meta["tau0"])
        )
        versions = self._versions(pipeline)
        keys = sorted(versions)
        values = self._call("read the policy", self._r.mget, [self._key(pipeline, k) for k in keys])
        found = [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]
        found.sort(key=lambda kv: (_order(kv[0], kv[1]), kv[0]))  # a stage's arms adjacent
        for key, value in found:
            _set(bandit, pheromone, key, value)
        self._seen[pipeline] = versions
        return bandit, pheromone, int(meta["runs"])

    def _versions(self, pipeline: str) -> dict[str, int]:
        raw = self._call("read the policy", self._r.hgetall, self._key(pipeline, "versions"))
        return {k.decode(): int(v) for k, v in raw.items()}

    def refresh(self, pipeline: str, policy: AssignmentPolicy) -> int:
        """Read into ``policy`` what other processes changed since this store last read
        or wrote it (arms ``policy`` does not know are left out); returns how many keys."""
        versions = self._versions(pipeline)
        seen = self._seen.setdefault(pipeline, {})
        known = set(policy.bandit.arms)
        changed = [
            k
            for k, v in versions.items()
            if seen.get(k) != v and (not k.startswith("arm:") or k[4:] in known)
        ]
        if not changed:
            return 0
        values = self._call(
            "read the policy", self._r.mget, [self._key(pipeline, k) for k in changed]
        )
        with policy.lock:
            for key, value in zip(changed, values, strict=True):
                if value is not None:
                    _set(policy.bandit, policy.pheromone, key, value)
                seen[key] = versions[key]
        return len(changed)

    # ----------------------------------------------------------------- writing

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
        """One learning transaction over ``arms`` and ``intents``; queued (and applied
        later) when Redis cannot be reached. Returns the runs learned from so far (-1
        while the batch is queued). ``credits``: the runs the batch credits, kept so that
        ``spill`` can write a batch still queued when the process ends."""
        with self._lock:
            self._queued.append((pipeline, policy, apply, arms, intents, run_ids))
            self._credits.append((pipeline, list(credits)))
            runs = -1
            try:
                while self._queued:
                    runs = self._transact(*self._queued[0])
                    self._queued.pop(0)
                    self._credits.pop(0)
            except StoreUnavailable:
                return -1
            return runs

    def _transact(
        self,
        pipeline: str,
        policy: AssignmentPolicy,
        apply: Apply,
        arms: Sequence[str],
        intents: Sequence[str],
        run_ids: Sequence[str],
    ) -> int:
        meta_key = self._key(pipeline, "meta")
        if not self._call("learn", self._r.exists, meta_key):  # first: every arm, so that
            arms = list(dict.fromkeys([*policy.bandit.arms, *arms]))  # loads keep their order
        keys = [f"arm:{a}" for a in arms] + [f"intent:{i}" for i in intents]
        credited = [self._key(pipeline, "credited", r) for r in run_ids]
        for _ in range(_RETRIES):
            pipe = self._r.pipeline()
            try:
                self._call("learn", pipe.watch, *[self._key(pipeline, k) for k in keys], *credited)
                stored = (
                    self._call("learn", pipe.mget, [self._key(pipeline, k) for k in keys])
                    if keys
                    else []
                )
                done = self._call("learn", pipe.mget, credited) if credited else []
                has_meta = self._call("learn", pipe.exists, meta_key)
                skip = frozenset(r for r, d in zip(run_ids, done, strict=True) if d is not None)
                with policy.lock:
                    for key, value in zip(keys, stored, strict=True):
                        if value is not None:
                            _set(policy.bandit, policy.pheromone, key, value)
                    learned = apply(skip)
                    blobs = [_arm_bytes(policy.bandit, a) for a in arms] + [
                        json.dumps(policy.pheromone.table_state(i)).encode() for i in intents
                    ]
                pipe.multi()
                if not has_meta:
                    pipe.hset(meta_key, mapping=_meta(policy.bandit, policy.pheromone))
                for key, blob in zip(keys, blobs, strict=True):
                    pipe.set(self._key(pipeline, key), blob)
                    pipe.hincrby(self._key(pipeline, "versions"), key, 1)
                for r in credited:
                    pipe.set(r, b"1", ex=_CREDITED_TTL_S)
                pipe.hincrby(meta_key, "runs", learned)
                pipe.sadd(f"{self.prefix}:pipelines", pipeline)
                results = self._call("learn", pipe.execute)
            except self._watch_error:
                continue  # another process changed a key first: again, from its state
            finally:
                pipe.reset()
            versions = results[1 if not has_meta else 0 :]
            seen = self._seen.setdefault(pipeline, {})
            for i, key in enumerate(keys):  # our own writes need no reading back
                seen[key] = int(versions[2 * i + 1])
            return int(results[-2])
        raise StoreUnavailable(
            f"Redis at {redact(self.url)}: the policy of {pipeline!r} changed under every one "
            f"of {_RETRIES} tries to update it"
        )

    def save(self, pipeline: str, bandit: LinUCB, pheromone: PheromoneTable, runs: int) -> None:
        """Write a whole policy (e.g. one learned before the store was shared)."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._key(pipeline, "meta"), mapping={**_meta(bandit, pheromone), "runs": runs})
        for arm in bandit.arms:
            pipe.set(self._key(pipeline, f"arm:{arm}"), _arm_bytes(bandit, arm))
            pipe.hincrby(self._key(pipeline, "versions"), f"arm:{arm}", 1)
        for intent in pheromone.intents():
            blob = json.dumps(pheromone.table_state(intent)).encode()
            pipe.set(self._key(pipeline, f"intent:{intent}"), blob)
            pipe.hincrby(self._key(pipeline, "versions"), f"intent:{intent}", 1)
        pipe.sadd(f"{self.prefix}:pipelines", pipeline)
        self._call("save the policy", pipe.execute)

    def reset(self, pipeline: str) -> bool:
        """Delete ``pipeline``'s shared policy; returns whether there was one."""
        found = self.exists(pipeline)
        keys = list(self._r.scan_iter(match=self._key(pipeline, "*"), count=1000))
        if keys:
            self._call("reset the policy", self._r.delete, *keys)
        self._r.srem(f"{self.prefix}:pipelines", pipeline)
        self._seen.pop(pipeline, None)
        return found

    def pipelines(self) -> list[str]:
        members = self._call("list policies", self._r.smembers, f"{self.prefix}:pipelines")
        return sorted(m.decode() for m in members)


def _meta(bandit: LinUCB, pheromone: PheromoneTable) -> dict[str, Any]:
    return {
        "dim": bandit.dim,
        "ridge": bandit.ridge,
        "rho": pheromone.rho,
        "gate": pheromone.gate,
        "tau0": pheromone.tau0,
        "runs": 0,
    }


def _arm_bytes(bandit: LinUCB, arm: str) -> bytes:
    """One arm as bytes: its place among the arms, pulls, then A^-1 and b (float64)."""
    a_inv, b, pulls = bandit.arm_state(arm)
    head = np.asarray([bandit.index(arm), pulls], dtype="<i8").tobytes()
    return head + a_inv.astype("<f8").tobytes() + b.astype("<f8").tobytes()


def _order(key: str, value: bytes) -> int:
    """An arm's place among the arms (intents after every arm)."""
    return int(np.frombuffer(value[:8], dtype="<i8")[0]) if key.startswith("arm:") else 1 << 62


def _set(bandit: LinUCB, pheromone: PheromoneTable, key: str, value: bytes) -> None:
    """Read one stored key (``arm:...`` or ``intent:...``) into the policy."""
    if key.startswith("arm:"):
        d = bandit.dim
        pulls = int(np.frombuffer(value[8:16], dtype="<i8")[0])
        numbers = np.frombuffer(value[16:], dtype="<f8")
        if numbers.size != d * d + d:
            raise StateFileError(f"the stored state of arm {key[4:]!r} has the wrong size")
        bandit.set_arm(key[4:], numbers[: d * d].reshape(d, d), numbers[d * d :], pulls)
    elif key.startswith("intent:"):
        pheromone.set_table(key[7:], {str(k): float(v) for k, v in json.loads(value).items()})
