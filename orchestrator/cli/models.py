"""``orch models serve``: the pool's local models on OpenAI-compatible loopback endpoints,
one loaded copy shared by every worker process through ordinary litellm pool entries."""

from __future__ import annotations

import time
from pathlib import Path

import click

from orchestrator.cli.common import clean_errors, cli
from orchestrator.errors import InputError

__all__ = ["models"]

_LOCAL_POOL = "examples/pools/local.toml"


@cli.group()
def models() -> None:
    """Local models: serve them to other processes."""


@models.command("serve")
@click.option(
    "--pool",
    "pool_file",
    type=click.Path(dir_okay=False),
    default=_LOCAL_POOL,
    show_default=True,
    help='The pool whose local entries (backend = "local") to serve.',
)
@click.option(
    "--port",
    type=click.IntRange(1024, 65535),
    default=8090,
    show_default=True,
    help="Port of the first model; the next ones take the following ports.",
)
@click.option(
    "--slots",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Requests each model decodes at once.",
)
@click.option(
    "--write-pool",
    type=click.Path(dir_okay=False),
    help="Write a pool file whose entries reach the served models (litellm "
    "openai/ entries with their api_base and the same prices).",
)
@clean_errors
def serve(pool_file: str, port: int, slots: int, write_pool: str | None) -> None:  # fmt: skip
    """Serve the local models of --pool until stopped (Ctrl-C)."""
    from agents import ModelPool
    from agents.local_model import DEFAULT_WEIGHTS, serve_http
    from agents.weights import gguf_path

    pool = ModelPool.from_file(pool_file)
    local = [p for p in pool if p.backend == "local"]
    if not local:
        raise InputError(f'{pool_file} has no local models (backend = "local") to serve')
    by_weights: dict[str, list[str]] = {}
    for p in local:
        by_weights.setdefault(p.data or DEFAULT_WEIGHTS, []).append(p.name)
    servers, bases = [], {}
    for i, (data, names) in enumerate(by_weights.items()):
        path = Path(data).expanduser() if data.endswith(".gguf") else gguf_path(data)
        click.echo(f"loading {data} as {', '.join(names)} ...", err=True)
        server, base = serve_http(path, port=port + i, aliases=set(names), slots=slots)
        servers.append(server)
        for name in names:
            bases[name] = base
        click.echo(f"serving {', '.join(names)} at {base}", err=True)
    if write_pool:
        lines = []
        for p in local:
            lines += [
                "[[models]]",
                f'name = "{p.name}"',
                'backend = "litellm"',
                f'model = "openai/{p.name}"',
                f'api_base = "{bases[p.name]}"',
                f"input_price = {p.input_price or 0.0}",
                f"output_price = {p.output_price or 0.0}",
                f"context_window = {p.context_window}",
                "",
            ]
        Path(write_pool).write_text("\n".join(lines), "utf-8")
        click.echo(f"wrote {write_pool}: run workers with --pool {write_pool}", err=True)
    click.echo("Ctrl-C stops", err=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
