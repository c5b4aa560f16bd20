"""Child processes the stack owns: started in their own session, stopped in order, never left behind."""

import contextlib
import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """A stack that cannot start; the message is one line meant for the user."""


def die_with_parent() -> None:
    # Safety net for a supervisor killed with SIGKILL: Linux sends the child SIGTERM when its parent dies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _readable(line: str) -> str:
    """A line of output as it is; a JSON log record as its level and message."""
    try:
        record = json.loads(line)
    except ValueError:
        return line.strip()
    if not isinstance(record, dict) or "message" not in record:
        return line.strip()
    return f"{record.get('level', '')} {record['message']}".strip()


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        output: Path,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.output = output
        # Where the process logs once it has configured its logging (a service's JSON lines): its output is then
        # silent, and a failure after that point (a port already taken) is told only there.
        self.log = log
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("ab") as sink:
            # Own session: a Ctrl-C in the terminal reaches the supervisor only, which stops children in order.
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                user=user,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._terminated = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 5) -> str:
        """The last lines of its output; where that is empty, the last records of its log."""
        for path in (self.output, self.log):
            try:
                text = path.read_text(encoding="utf-8", errors="replace").strip() if path else ""
            except OSError:
                text = ""
            if text:
                return " | ".join(_readable(line) for line in text.splitlines()[-lines:])
        return ""

    def check_running(self, when: str = "during boot") -> None:
        """Raise StackError, with the process's last output, if it has exited: a boot then fails at once
        instead of waiting out its deadline, and `up` notices a service that died. Polling also reaps it."""
        if not self.running():
            raise StackError(f"{self.name} exited {when} (code {self.popen.returncode}): {self.tail()}")

    def terminate(self) -> None:
        """Send the stop signal (SIGTERM unless told otherwise) to the process group once, without waiting (see
        `stop_together`)."""
        if self.popen.poll() is None and not self._terminated:
            self._terminated = True
            self._signal_group(self.stop_signal)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, wait, then SIGKILL what is left."""
        if self.popen.poll() is None:
            # Once only: a second SIGTERM makes uvicorn skip its graceful shutdown.
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout)
        # Workers of a process that exited on its own (uvicorn with --workers) may still hold the group.
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def stop_together(processes: Sequence[ManagedProcess]) -> None:
    """Stop independent processes in parallel: each takes its own shutdown time (uvicorn about 0.1-0.2 s)."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()
# Independent of `random`'s global state, which test runners reseed alike in every worker.
_chooser = random.SystemRandom()


@cache
def _listening_ports() -> range:
    """Where to choose a server's port: below the kernel's ephemeral range, so that no outgoing connection takes
    the port between its choice and the server's bind (one did, under load: "address already in use"), and above
    the ports well-known servers use. Empty where that range cannot be read or leaves too little room."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    ports = range(20_000, low)
    return ports if len(ports) >= 1_000 else range(0)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, and never one this process handed out before: the probe socket is closed before the
    caller binds, so the kernel may offer the same port again, and a stack's five servers would then collide."""
    ports = _listening_ports()
    with _handed_out_lock:
        while True:
            if ports:
                port = _chooser.choice(ports)
                if not port_is_free(host, port):
                    continue
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((host, 0))
                    port = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll `condition` until it holds or `timeout` passes (then StackError naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.05)
