"""The ``orch`` command line: one module per command group.

Heavy modules are imported inside commands, so ``orch --help`` is fast.
"""

from __future__ import annotations

from orchestrator.cli import evals, policy, run, skills, trace
from orchestrator.cli.common import cli

__all__ = ["cli", "main"]

_COMMANDS = (run, skills, trace, policy, evals)
"""Imported for their commands, which register on ``cli``."""


def main() -> None:
    """Entry point of the ``orch`` script."""
    cli(prog_name="orch")
