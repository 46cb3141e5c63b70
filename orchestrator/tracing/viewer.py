"""Reading JSONL run traces back and rendering them as a readable decision tree."""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import InputError
from orchestrator.tracing.spans import ATTR, DECISION_EVENT
from orchestrator.types import Candidate

__all__ = [
    "Pruned",
    "RunListing",
    "find_run",
    "list_runs",
    "load_spans",
    "prune_runs",
    "render_run",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunListing:
    """One line of ``orch trace list``."""

    run_id: str
    started: _dt.datetime
    pipeline: str
    status: str
    intent: str
    cost_usd: float
    query: str
    path: Path


def _read_first(path: Path) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as fh:
            return json.loads(fh.readline())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def list_runs(trace_dir: Path) -> list[RunListing]:
    """Runs traced under ``trace_dir``, newest first; unreadable files are skipped."""
    out = []
    for path in trace_dir.glob("*.jsonl") if trace_dir.is_dir() else ():
        root = _read_first(path)
        if not isinstance(root, dict) or any(k not in root for k in _SPAN_KEYS):
            continue  # not a trace of ours, or damaged: `trace show` says which
        a = root.get("attributes", {})
        out.append(
            RunListing(
                run_id=path.stem,
                started=_dt.datetime.fromtimestamp(root.get("start_ns", 0) / 1e9),
                pipeline=str(a.get(ATTR.PIPELINE, "?")),
                status=str(a.get(ATTR.STATUS, "?")),
                intent=str(a.get(ATTR.INTENT, "?")),
                cost_usd=float(a.get(ATTR.COST, 0.0)),
                query=str(a.get(ATTR.QUERY, "")),
                path=path,
            )
        )
    return sorted(out, key=lambda r: r.started, reverse=True)


STALE_PARTIAL_S = 3600.0
"""A run file's temporary twin (``.RUN.THREAD.jsonl.tmp``) older than this is the rest of
a write that was cut off (the writer renames it within milliseconds)."""


@dataclass(frozen=True, slots=True)
class Pruned:
    """What ``prune_runs`` removed (or, in a dry run, would remove)."""

    removed: list[RunListing]
    freed_bytes: int
    left: int
    """Traced runs left under the directory (every pipeline's)."""
    partials: list[Path] = field(default_factory=list)
    """Left-over temporary files of cut-off writes."""
    failed: list[tuple[Path, str]] = field(default_factory=list)
    """Files that could not be removed, with why (the others were)."""


def prune_runs(
    trace_dir: Path,
    *,
    older_than: _dt.timedelta | None = None,
    keep: int | None = None,
    pipeline: str | None = None,
    dry_run: bool = False,
    now: _dt.datetime | None = None,
) -> Pruned:
    """Remove traced runs: those that started more than ``older_than`` before ``now``,
    except the ``keep`` newest; with ``keep`` alone, every run but the ``keep`` newest.
    ``pipeline`` narrows both to that pipeline's runs. Files that are not readable traces
    are left alone (``orch trace show`` says what is wrong with them); temporary files of
    writes cut off more than an hour ago are removed. A file that cannot be removed is
    reported in ``failed`` and the rest are still removed."""
    if older_than is None and keep is None:
        raise InputError("say which runs to remove: --older-than AGE, --keep N or both")
    if older_than is not None and older_than.total_seconds() < 0:
        raise InputError("--older-than must not be negative")
    if keep is not None and keep < 0:
        raise InputError("--keep must not be negative")
    runs = list_runs(trace_dir)  # newest first
    mine = [r for r in runs if pipeline is None or r.pipeline == pipeline]
    if pipeline is not None and runs and not mine:
        known = sorted({r.pipeline for r in runs})
        raise InputError(f"no traced run of pipeline {pipeline!r}; their pipelines: {known}")
    cutoff = (now or _dt.datetime.now()) - older_than if older_than is not None else None
    doomed = [
        r
        for rank, r in enumerate(mine)
        if rank >= (keep or 0) and (cutoff is None or r.started < cutoff)
    ]
    partials = []
    if trace_dir.is_dir():
        stale = time.time() - STALE_PARTIAL_S
        for p in trace_dir.glob(".*.jsonl.tmp"):
            try:
                if p.stat().st_mtime < stale:
                    partials.append(p)
            except OSError:
                continue  # renamed or removed meanwhile
    freed = 0
    removed = []
    failed = []
    for r in doomed:
        try:
            size = r.path.stat().st_size
            if not dry_run:
                os.unlink(r.path)
        except FileNotFoundError:
            continue  # removed meanwhile (another prune)
        except OSError as exc:
            failed.append((r.path, exc.strerror or str(exc)))
            continue
        freed += size
        removed.append(r)
    for p in partials:
        try:
            freed += p.stat().st_size
            if not dry_run:
                os.unlink(p)
        except OSError:
            continue
    return Pruned(removed, freed, len(runs) - len(removed), partials, failed)


def find_run(trace_dir: Path, run_id: str) -> Path:
    """The trace file of ``run_id`` (a unique prefix is enough)."""
    exact = trace_dir / f"{run_id}.jsonl"
    if run_id and "/" not in run_id and exact.is_file():
        return exact
    matches = sorted(trace_dir.glob(f"{run_id}*.jsonl")) if run_id and trace_dir.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ids = ", ".join(m.stem for m in matches[:5])
        raise InputError(f"run id {run_id!r} is ambiguous ({ids}...); give more characters")
    raise InputError(
        f"no traced run {run_id!r} in {trace_dir}; `orch trace list` shows the traced runs"
    )


def load_spans(path: Path) -> list[dict[str, Any]]:
    """Every span of a trace file."""
    try:
        lines = path.read_text("utf-8").splitlines()
        spans = [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"trace file {str(path)!r} is unreadable: {exc}") from None
    for n, span in enumerate(spans, 1):
        missing = [k for k in _SPAN_KEYS if not isinstance(span, dict) or k not in span]
        if missing:
            raise InputError(
                f"trace file {str(path)!r} line {n} is not a span (no {missing[0]!r}); "
                "it was not written by orch or was damaged"
            )
    return spans


_SPAN_KEYS = ("name", "span_id", "parent_id", "start_ns", "end_ns")


def _ms(span: dict[str, Any]) -> str:
    return f"{(span['end_ns'] - span['start_ns']) / 1e6:.1f} ms"


def _candidates(a: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidates of a decision event, as dicts of the fields they have."""
    raw = a.get(ATTR.D_CANDIDATES)
    if not raw:
        return []
    try:
        rows = json.loads(raw)
    except json.JSONDecodeError:
        return [{"name": str(raw)}]
    return [
        {k: v for k, v in zip(Candidate._fields, row, strict=False) if v is not None}
        for row in rows
    ]


def _render_candidates(cands: list[dict[str, Any]]) -> str:
    parts = []
    for c in cands:
        if c.get("excluded_by"):
            parts.append(f"{c['name']} excluded ({c['excluded_by']})")
        elif "mean" in c and "bonus" in c:
            tau = (  # the term added: weight x level x the arm's uncertainty left
                f" + pheromone {c['score'] - c['mean'] - c['bonus']:.3f}"
                f" (level {c['pheromone']:.3f})"
                if "pheromone" in c
                else ""
            )
            parts.append(
                f"{c['name']} {c['score']:.3f} = mean {c['mean']:.3f} + bonus {c['bonus']:.3f}{tau}"
            )
        elif "score" in c:
            parts.append(f"{c['name']} {c['score']:.3f}")
        else:
            parts.append(c["name"])
    return "; ".join(parts)


def _decision_lines(a: dict[str, Any]) -> list[str]:
    kind = a.get(ATTR.D_KIND, "?")
    chosen = a.get(ATTR.D_CHOSEN, "")
    mark = "✗" if kind in ("guard_block", "escalate") else "◆"
    explore = " [explore]" if a.get(ATTR.D_EXPLORE) else ""
    head = f"{mark} {kind}: {chosen}{explore}" if chosen else f"{mark} {kind}"
    lines = [f"{head} — {a.get(ATTR.D_REASON, '')}"]
    cands = _candidates(a)
    if cands:
        lines.append(f"  candidates: {_render_candidates(cands)}")
    return lines


def _span_label(span: dict[str, Any]) -> str:
    a = span.get("attributes", {})
    op = a.get(ATTR.OPERATION)
    extra = [_ms(span)]
    if op == "invoke_agent":
        extra.insert(0, f"stage {a.get(ATTR.STAGE)}, model {a.get(ATTR.REQUEST_MODEL)}")
    elif op == "chat":
        extra.insert(
            0,
            f"{a.get(ATTR.INPUT_TOKENS, '?')} in / {a.get(ATTR.OUTPUT_TOKENS, '?')} out tokens, "
            f"${float(a.get(ATTR.COST, 0.0)):.6f}",
        )
    elif op == "execute_tool":
        extra.insert(0, str(a.get(ATTR.TOOL_OUTCOME, "failed")))
    label = f"{span['name']}  [{', '.join(extra)}]"
    if span.get("status") == "ERROR":
        label += f"  ERROR: {span.get('status_message')}"
    return label


def render_run(spans: Sequence[dict[str, Any]]) -> str:
    """The run as a tree of spans and decisions, with a header of its outcome."""
    roots = [s for s in spans if s.get("parent_id") is None]
    if not roots:
        raise InputError("the trace has no workflow (root) span; it may be incomplete")
    root = roots[0]
    a = root.get("attributes", {})
    children: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        if s.get("parent_id"):
            children.setdefault(s["parent_id"], []).append(s)
    header = [
        f"run {a.get(ATTR.RUN_ID, '?')}  pipeline {a.get(ATTR.PIPELINE, '?')}  "
        f"status {a.get(ATTR.STATUS, '?')}  cost ${float(a.get(ATTR.COST, 0.0)):.6f}  "
        f"quality {float(a.get(ATTR.QUALITY, 0.0)):.2f}  "
        f"reward {float(a.get(ATTR.REWARD, 0.0)):.3f}",
        f"query:  {a.get(ATTR.QUERY, '')}",
        f"answer: {a.get(ATTR.ANSWER, '')}",
    ]
    if root.get("status") == "ERROR":
        header.append(f"error:  {root.get('status_message')}")
    out = [*header, ""]

    def walk(span: dict[str, Any], prefix: str, is_root: bool) -> None:
        items: list[tuple[int, str, Any]] = [
            (e["time_ns"], "event", e)
            for e in span.get("events", [])
            if e["name"] == DECISION_EVENT
        ]
        items += [(c["start_ns"], "span", c) for c in children.get(span["span_id"], [])]
        items.sort(key=lambda t: t[0])
        for i, (_, kind, item) in enumerate(items):
            last = i == len(items) - 1
            branch, cont = ("└─ ", "   ") if last else ("├─ ", "│  ")
            if kind == "event":
                lines = _decision_lines(item["attributes"])
                out.append(prefix + branch + lines[0])
                out.extend(prefix + cont + line for line in lines[1:])
            else:
                out.append(prefix + branch + _span_label(item))
                walk(item, prefix + cont, False)

    out.append(_span_label(root))
    walk(root, "", True)
    return "\n".join(out)
