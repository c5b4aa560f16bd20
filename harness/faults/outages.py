"""Cutting a service off from its database or Redis, and reconnecting it: through the harness's own fault
proxies on the reference stack, or through commands a deployment's team provides."""

import shlex
import subprocess
from dataclasses import dataclass
from typing import Protocol

from harness.faults.proxy import ProxyControl, ProxyError

COMMAND_TIMEOUT_SECONDS = 60.0


class FaultUnavailable(Exception):
    """The target gives the harness no means to inject this fault; the message names the missing setting."""


class FaultFailed(RuntimeError):
    """Injecting or undoing a fault failed; the message says which command or control and why."""


class Outage(Protocol):
    def cut(self) -> None: ...

    def restore(self) -> None: ...


@dataclass(frozen=True)
class ProxyOutage:
    control: ProxyControl

    @classmethod
    def at(cls, address: str) -> "ProxyOutage":
        host, _, port = address.rpartition(":")
        return cls(ProxyControl(host, int(port)))

    def cut(self) -> None:
        try:
            self.control.cut()
        except (ProxyError, OSError) as exc:
            raise FaultFailed(f"fault proxy {self.control.host}:{self.control.port}: {exc}") from exc

    def restore(self) -> None:
        try:
            self.control.restore()
        except (ProxyError, OSError) as exc:
            raise FaultFailed(f"fault proxy {self.control.host}:{self.control.port}: {exc}") from exc


@dataclass(frozen=True)
class CommandOutage:
    down: str
    up: str

    def cut(self) -> None:
        _run(self.down)

    def restore(self) -> None:
        _run(self.up)


def _run(command: str) -> None:
    try:
        # The team's own command line, run as given (pipes, `docker …`): a shell is the point.
        result = subprocess.run(  # noqa: S602
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FaultFailed(
            f"fault command timed out after {COMMAND_TIMEOUT_SECONDS:g}s: {shlex.quote(command)}"
        ) from exc
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise FaultFailed(f"fault command exited with {result.returncode}: {shlex.quote(command)}: {last}")
