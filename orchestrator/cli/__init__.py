"""The ``orch`` command line: one module per command group.

Heavy modules are imported inside commands, so ``orch --help`` is fast.
"""

from __future__ import annotations

import warnings
from typing import TextIO

import click

from orchestrator.cli import evals, models, policy, run, runs, skills, trace
from orchestrator.cli.common import cli

__all__ = ["cli", "main"]

_COMMANDS = (run, runs, skills, trace, policy, evals, models)
"""Imported for their commands, which register on ``cli``."""


def main() -> None:
    """Entry point of the ``orch`` script."""
    warnings.showwarning = _show_warning
    cli(prog_name="orch")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning as one line on stderr, its secrets redacted (not the SDK's source dump)."""
    from orchestrator.redaction import redact
    from orchestrator.types import valid_text

    click.echo(f"warning: {valid_text(redact(str(message)))}", err=True)
