"""Test support: one service of a running stack started on its own, with its settings changed."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from reference_impl.stack.api import API_PREFIXES, RunningStack, StackConfig, service_env, start_service
from reference_impl.stack.backends import DataServices
from reference_impl.stack.processes import free_port, wait_until


@contextmanager
def lone_service(
    name: str,
    stack: RunningStack,
    log_dir: Path,
    env: dict[str, str] | None = None,
    workers: int = 1,
    **data: str,
) -> Iterator[str]:
    """One service of `stack`, started alone with some of its data services replaced and extra environment
    (settings); yields its base URL."""
    services = replace(DataServices(stack.database_url, stack.redis_url), **data)
    port = free_port()
    config = StackConfig(log_dir=log_dir, workers=workers)
    process = start_service(name, port, config, service_env(config, services, stack.jwt_secret) | (env or {}))
    origin = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            assert process.running(), process.tail()
            try:
                httpx.get(f"{origin}/health", timeout=5)
            except httpx.HTTPError:
                return False
            return True

        wait_until(answers, timeout=30, what=f"{name} service")
        yield origin + API_PREFIXES[name]
    finally:
        process.stop()


def start_up(log_dir: Path, ports: dict[str, int], **popen: Any) -> "subprocess.Popen[str]":
    """`python -m reference_impl up` on the embedded backend with these ports (0: any free one), its output read
    as text (stderr as `popen` says)."""
    argv = [sys.executable, "-m", "reference_impl", "up", "--backend", "embedded", "--log-dir", str(log_dir)]
    argv += [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **popen)


def read_until_ready(up: "subprocess.Popen[str]") -> list[str]:
    """The lines `python -m reference_impl up` prints, up to and including its "ready in …" line. Fails with
    what it printed, its exit code and its stderr (when piped) if it ends before it is ready."""
    assert up.stdout is not None
    lines = []
    for line in up.stdout:
        lines.append(line)
        if line.startswith("ready in"):
            return lines
    errors = up.stderr.read() if up.stderr is not None else ""
    raise AssertionError(
        f"`up` ended (exit code {up.wait(30)}) before it was ready:\n{''.join(lines)}{errors}"
    )
