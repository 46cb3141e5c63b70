"""The cost-quality frontiers of a routing report as a PNG (``orch eval routing --plot``)."""

from __future__ import annotations

import importlib.util

from orchestrator.errors import InputError
from orchestrator.evals.routing.report import RoutingReport

__all__ = ["can_plot", "plot_frontiers"]

_NO_PLOTTING = "--plot needs matplotlib: pip install matplotlib"


def can_plot() -> None:
    """Raise InputError if ``plot_frontiers`` cannot work (matplotlib is missing)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(_NO_PLOTTING)


def plot_frontiers(report: RoutingReport, path: str) -> None:
    """Write the cost-quality frontiers of ``report`` as a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(_NO_PLOTTING) from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, pts in report.frontier.items():
        if name in ("random", "cheapest"):  # single points: grey marks, not a line's colour
            mark = {"random": "x", "cheapest": "+"}[name]
            ax.scatter(
                [p[0] for p in pts], [p[1] for p in pts], s=30, marker=mark, color="0.4", label=name
            )
        else:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    b, o = report.best_single, report.oracle
    ax.scatter(
        [b["cost"]],
        [b["quality"]],
        marker="*",
        s=120,
        color="k",
        label=f"best single ({b['model']})",
    )
    ax.scatter([o["cost"]], [o["quality"]], marker="^", s=60, color="gray", label="oracle")
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD, log scale)")
    ax.set_ylabel("mean quality per query")
    ax.set_title(f"{report.data}: {report.evaluated} held-out queries x {report.seeds} seeds")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise InputError(f"could not write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
