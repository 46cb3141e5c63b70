"""What the ``orch`` commands share: the command group, common options, clean errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from orchestrator.errors import ConfigError, InputError

__all__ = [
    "clean_errors",
    "cli",
    "data_dir_option",
    "data_dir_path",
    "output_option",
    "pipeline_option",
    "pool_option",
    "write_json",
]

TRACE_MODES = ("jsonl", "console", "otlp", "off")


def clean_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """User mistakes exit 2 with one line on stderr, no traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, InputError) as exc:
            from orchestrator.redaction import redact
            from orchestrator.types import valid_text

            click.echo(f"error: {valid_text(redact(str(exc)))}", err=True)
            sys.exit(2)

    return wrapper


def data_dir_path(value: str | None) -> Path:
    from orchestrator.cli.paths import data_dir

    return data_dir(value)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="ORCH_HOME",
    help="Local data directory for policy state, traces and checkpoints "
    "[default: $ORCH_HOME or ~/.local/share/orchestrator].",
)
pipeline_option = click.option(
    "--pipeline", "pipeline_name", help="Which pipeline, if FILE defines several."
)


def _output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An output file's folder must exist and be writable, checked before a long
    evaluation starts rather than when its results are ready."""
    if value is None:
        return None
    folder = Path(value).expanduser().absolute().parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {folder} does not exist; create it or write elsewhere")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"folder {folder} is not writable; write elsewhere")
    return value


def output_option(flag: str, dest: str, what: str) -> Callable[[Any], Any]:
    """An option naming a file that a command writes ``what`` to, checked up front."""
    return click.option(
        flag,
        dest,
        type=click.Path(dir_okay=False),
        callback=_output_file,
        help=f"Write {what} to this file (its folder must exist).",
    )


def write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, indent=2))
    except OSError as exc:
        raise InputError(f"could not write {path}: {exc.strerror or exc}") from None


pool_option = click.option(
    "--pool",
    "pool_file",
    type=click.Path(dir_okay=False),
    help="Model pool file (TOML or JSON) [default: the pipeline's pool, else the built-in "
    "offline pool].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestrator-runtime", prog_name="orch")
def cli() -> None:
    """Run learning multi-agent pipelines and read why they decided what they did."""
