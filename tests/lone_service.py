"""Test support: one service of a running stack started on its own, with its settings changed."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

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


def read_until_ready(up: "subprocess.Popen[str]") -> list[str]:
    """The lines `python -m reference_impl up` prints, up to and including its "ready in …" line."""
    assert up.stdout is not None
    lines = []
    for line in up.stdout:
        lines.append(line)
        if line.startswith("ready in"):
            break
    return lines
