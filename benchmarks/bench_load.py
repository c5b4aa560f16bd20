"""Service load with wrk against the reference stack and a bare-FastAPI control, and the users service scaled.

Every wrk run uses wrk/bench.lua (status counts and a JSON summary), so the control and the endpoints pay the
same client cost. Traffic goes to 127.0.0.1 only.
"""

import contextlib
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from bench_common import BENCH_DIR, BenchError, child, machine_busy_pct

from reference_impl.stack.api import RunningStack, StackConfig, reference_stack
from reference_impl.stack.processes import free_port, wait_until

WRK_SCRIPT = BENCH_DIR / "wrk" / "bench.lua"
VALID_MID = "100000000001"
CONNECTIONS = 32
THREADS = 2
HOST = "127.0.0.1"

Log = Callable[[str], None]


def ensure_wrk(log: Log) -> str:
    """wrk's path, installing the Debian package first when it is missing (apt-get update, then install)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise BenchError(
            "wrk is not installed, and installing it needs apt-get as root: apt-get install -y wrk"
        )
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        log(f"wrk not found: {' '.join(command)}")
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise BenchError(f"{' '.join(command)} exited with {result.returncode}: {last}")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk, but it is not on PATH")
    return found


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).strip().splitlines()[0] if (result.stdout + result.stderr) else "?"


@dataclass(frozen=True)
class WrkRun:
    label: str
    url: str
    seconds: float
    requests: int
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    errors: dict[str, int]
    output: str
    cpu_busy_pct: float  # the whole machine's CPU use during the run (every core, every process)
    foreign_cpu_pct: float  # of it, what processes outside the bench's own tree used (other people's work)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    @property
    def socket_errors(self) -> int:
        return sum(self.errors[kind] for kind in ("connect", "read", "write", "timeout"))

    def summary(self) -> str:
        text = (
            f"{self.rps:.0f} req/s, p50 {self.latency_ms['p50']:.1f} ms, p99 {self.latency_ms['p99']:.1f} ms"
        )
        text += f", non-2xx {self.non_2xx}"
        if self.socket_errors:
            text += f", socket errors {self.socket_errors}"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "url": self.url,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "latency_ms": self.latency_ms,
            "statuses": self.statuses,
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "machine_cpu_busy_pct": round(self.cpu_busy_pct, 1),
            "foreign_cpu_pct": round(self.foreign_cpu_pct, 1),
            "wrk_output": self.output,
        }


@dataclass(frozen=True)
class WrkCommand:
    label: str
    url: str
    seconds: int  # wrk takes whole seconds
    mode: list[str] = field(default_factory=lambda: ["get"])
    headers: list[str] = field(default_factory=list)
    timeout_s: float = 2.0  # wrk's default

    def argv(self, wrk: str) -> list[str]:
        argv = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{self.seconds}s", "--latency"]
        argv += [f"--timeout={self.timeout_s:g}s", "-s", str(WRK_SCRIPT)]
        for header in self.headers:
            argv += ["-H", header]
        return [*argv, self.url, "--", *self.mode]


@contextlib.contextmanager
def started(wrk: str, command: WrkCommand) -> Iterator[Callable[[], WrkRun]]:
    """Start wrk; the yielded function waits for it and parses its summary."""
    cpu_before = psutil.cpu_times()
    foreign_before = _foreign_cpu()
    with child(command.argv(wrk), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:

        def finish() -> WrkRun:
            try:
                output, _ = proc.communicate(timeout=command.seconds + 60)
            except subprocess.TimeoutExpired as exc:
                raise BenchError(f"wrk ({command.label}) did not finish") from exc
            line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
            if proc.returncode != 0 or line is None:
                raise BenchError(
                    f"wrk ({command.label}) exited with {proc.returncode}: {output.strip()[-500:]}"
                )
            data = json.loads(line.removeprefix("BENCH_JSON "))
            return WrkRun(
                label=command.label,
                url=command.url,
                seconds=data["duration_us"] / 1e6,
                requests=data["requests"],
                latency_ms={key: round(value / 1000, 2) for key, value in data["latency_us"].items()},
                statuses=dict(sorted(data["statuses"].items())),
                errors=data["errors"],
                output=output.replace(line, "").strip(),
                cpu_busy_pct=machine_busy_pct(cpu_before),
                foreign_cpu_pct=_foreign_share(foreign_before, _foreign_cpu(), cpu_before),
            )

        yield finish


def _foreign_cpu() -> dict[int, float]:
    """CPU seconds so far of every process outside this bench's own tree (its stacks, wrk, the control)."""
    own = {os.getpid()} | {process.pid for process in psutil.Process().children(recursive=True)}
    seconds: dict[int, float] = {}
    for process in psutil.process_iter():
        if process.pid in own:
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def _foreign_share(before: dict[int, float], after: dict[int, float], cpu_before: Any) -> float:
    """Other processes' CPU during the run, as a percentage of the whole machine (every core)."""
    used = sum(value - before.get(pid, 0.0) for pid, value in after.items() if value >= before.get(pid, 0.0))
    total = sum(psutil.cpu_times()) - sum(cpu_before)
    return 100.0 * used / total if total > 0 else 0.0


def run_wrk(wrk: str, command: WrkCommand) -> WrkRun:
    with started(wrk, command) as finish:
        return finish()


def uvicorn_argv(app: str, port: int, workers: int = 1, app_dir: Path | None = None) -> list[str]:
    """The command line of reference_impl.stack.api.start_service, for an app of ours."""
    argv = [sys.executable, "-m", "reference_impl.stack.serve", app]
    if app_dir is not None:
        argv += ["--app-dir", str(app_dir)]
    flags = ["--host", HOST, "--port", str(port), "--workers", str(workers), "--no-access-log"]
    return [*argv, *flags, "--log-level", "warning", "--timeout-graceful-shutdown", "5"]


@contextlib.contextmanager
def control_app(log_dir: Path) -> Iterator[str]:
    """The control served by uvicorn as the services are (one worker, same flags); yields its URL."""
    port = free_port(HOST)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (
        (log_dir / "control.out").open("w", encoding="utf-8") as sink,
        child(uvicorn_argv("control_app:app", port, app_dir=BENCH_DIR), stdout=sink) as proc,
    ):
        url = f"http://{HOST}:{port}/"

        def up() -> bool:
            if proc.poll() is not None:
                raise BenchError(
                    f"the control app exited with {proc.returncode}; see {log_dir / 'control.out'}"
                )
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=30, what="the control app")
        yield url


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    access_token: str


def register(stack: RunningStack) -> Account:
    tag = secrets.token_hex(4)
    login, password = f"bench_{tag}", f"Bench-{secrets.token_urlsafe(12)}"
    body: dict[str, object] = {
        "second_login": login,
        "phone": f"+7{secrets.randbelow(10**10):010d}",
        "email": f"bench_{tag}@example.com",
        "password": password,
        "group_names": ["customer"],
    }
    response = httpx.post(f"{stack.base_urls['auth']}/register", json=body, timeout=10)
    if response.status_code != 201:
        raise BenchError(f"register answered {response.status_code}: {response.text[:200]}")
    return Account(login, password, response.json()["access_token"])


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise BenchError(f"{what} answered {response.status_code}, expected {status}: {response.text[:200]}")


def check_endpoints(stack: RunningStack, account: Account) -> None:
    """One request of each kind before loading it: a load of errors would measure nothing useful."""
    bearer = {"Authorization": f"Bearer {account.access_token}"}
    _expect(httpx.get(f"{stack.base_urls['users']}/me", headers=bearer, timeout=10), 200, "/users/me")
    payload = {
        "Id": f"bench-check-{secrets.token_hex(6)}",
        "MID": VALID_MID,
        "Amount": "10.00",
        "ReaderId": "bench-reader",
        "CreatedAt": "2025-11-24 13:04:08",
        "Inputtype": 1,
        "ClientName": "Bench",
        "Description": "load test",
    }
    _expect(httpx.post(stack.base_urls["webhook"], json=payload, timeout=10), 200, "/webhook")
    login = {"login": account.login, "password": account.password}
    _expect(httpx.post(f"{stack.base_urls['auth']}/login", json=login, timeout=10), 200, "/login")


# ---- the users service's workers and a logout -----------------------------------------------------------------


def service_processes(port: int) -> list[psutil.Process]:
    """The Python server process started with `--port <port>` (uvicorn's command line, whichever module runs it)
    and its workers (children, with --workers > 1)."""
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        python = bool(argv) and "python" in Path(argv[0]).name
        if python and any(a == "--port" and b == str(port) for a, b in itertools.pairwise(argv)):
            with contextlib.suppress(psutil.Error):
                found += [process, *process.children(recursive=True)]
    return found


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def settle(processes: list[psutil.Process], *, timeout: float = 60.0, interval: float = 0.5) -> float:
    """Wait until `processes` are idle (< 5 % of a core): work queued by the previous run (Argon2 jobs of
    connections wrk has closed) must not be billed to the next one. Returns the seconds waited."""
    started = time.perf_counter()
    before = _cpu_seconds(processes)
    while time.perf_counter() - started < timeout:
        time.sleep(interval)
        now = _cpu_seconds(processes)
        if (now - before) / interval < 0.05:
            break
        before = now
    return time.perf_counter() - started


def _owner(candidates: list[psutil.Process], server_port: int, client_port: int) -> int | None:
    for process in candidates:
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="tcp"):
                if (
                    conn.laddr
                    and conn.laddr.port == server_port
                    and conn.raddr
                    and conn.raddr.port == client_port
                ):
                    return process.pid
    return None


def fresh_get(url: str, token: str, candidates: list[psutil.Process]) -> tuple[int, int | None]:
    """GET over a new connection: the status, and which process accepted the connection."""
    parsed = httpx.URL(url)
    port = parsed.port or 80
    with socket.create_connection((parsed.host, port), timeout=10) as sock:
        request = (
            f"GET {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        status_line = received.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ")
        if len(parts) < 2 or not parts[1].isdigit():
            raise BenchError(f"{url}: unexpected answer {status_line!r}")
        # Still connected (keep-alive): the accepting worker holds the server side of this connection.
        return int(parts[1]), _owner(candidates, port, sock.getsockname()[1])


@dataclass(frozen=True)
class LogoutCheck:
    workers: list[int]
    before: dict[str, int]  # status → count, before the logout
    before_by_worker: dict[str, int]
    logout_status: int
    after: dict[str, int]
    after_by_worker: dict[str, int]
    calls: int

    @property
    def refused(self) -> int:
        return self.after.get("401", 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "before": self.before,
            "before_by_worker": self.before_by_worker,
            "logout_status": self.logout_status,
            "after": self.after,
            "after_by_worker": self.after_by_worker,
            "calls": self.calls,
            "refused": self.refused,
        }


def logout_check(stack: RunningStack, calls: int = 50, before: int = 20) -> LogoutCheck:
    """A token every users worker accepts; a logout through auth; then `calls` fresh-connection GETs."""
    account = register(stack)
    url = f"{stack.base_urls['users']}/me"
    port = httpx.URL(url).port or 80
    candidates = service_processes(port)

    def sample(n: int) -> tuple[Counter[str], Counter[str]]:
        """`n` fresh-connection GETs: their statuses, and which worker answered each."""
        statuses: Counter[str] = Counter()
        owners: Counter[str] = Counter()
        for _ in range(n):
            status, pid = fresh_get(url, account.access_token, candidates)
            statuses[str(status)] += 1
            owners[str(pid)] += 1
        return statuses, owners

    statuses, owners = sample(before)
    logout = httpx.post(
        f"{stack.base_urls['auth']}/logout",
        headers={"Authorization": f"Bearer {account.access_token}"},
        timeout=10,
    )
    after, after_owners = sample(calls)
    workers = sorted(int(pid) for pid in (owners | after_owners) if pid != "None")
    return LogoutCheck(
        workers, dict(statuses), dict(owners), logout.status_code, dict(after), dict(after_owners), calls
    )


# ---- the whole section ---------------------------------------------------------------------------------------


@dataclass
class LoadResults:
    wrk_version: str = ""
    runs: dict[str, WrkRun] = field(default_factory=dict)
    settled_s: dict[str, float] = field(default_factory=dict)  # idle wait before each run
    logout: LogoutCheck | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "wrk_version": self.wrk_version,
            "connections": CONNECTIONS,
            "threads": THREADS,
            "runs": {key: run.as_json() for key, run in self.runs.items()},
            "settled_before_s": {key: round(value, 2) for key, value in self.settled_s.items()},
            "logout": self.logout.as_json() if self.logout else None,
        }


def measure_load(seconds: int, work: Path, log: Log, results: LoadResults) -> None:
    """Fill `results` as it goes: a failure midway keeps what was measured."""
    wrk = ensure_wrk(log)
    results.wrk_version = wrk_version(wrk)
    ports = {"auth": 0, "users": 0, "webhook": 0}
    with ExitStack() as resources:
        log("booting the load stack (1 worker per service), the 2-worker stack and the control app")
        one = resources.enter_context(
            reference_stack(StackConfig(backend="embedded", ports=ports, log_dir=work / "stack-1-worker"))
        )
        two = resources.enter_context(
            reference_stack(
                StackConfig(backend="embedded", ports=ports, log_dir=work / "stack-2-workers", workers=2)
            )
        )
        control = resources.enter_context(control_app(work / "control"))
        account, account_two = register(one), register(two)
        check_endpoints(one, account)
        _expect(
            httpx.get(
                f"{two.base_urls['users']}/me",
                headers={"Authorization": f"Bearer {account_two.access_token}"},
                timeout=10,
            ),
            200,
            "/users/me (2 workers)",
        )
        servers = [
            process
            for origin in [*one.origins.values(), *two.origins.values(), control.rstrip("/")]
            for process in service_processes(int(origin.rsplit(":", 1)[1]))
        ]

        def idle(label: str) -> None:
            results.settled_s[label] = settle(servers)

        bearer = f"Authorization: Bearer {account.access_token}"
        login_mode = ["login", account.login, account.password]
        commands = [
            WrkCommand("control", control, seconds),
            WrkCommand("users_me", f"{one.base_urls['users']}/me", seconds, headers=[bearer]),
            WrkCommand(
                "users_me_2_workers",
                f"{two.base_urls['users']}/me",
                seconds,
                headers=[f"Authorization: Bearer {account_two.access_token}"],
            ),
            WrkCommand(
                "webhook",
                one.base_urls["webhook"],
                seconds,
                ["webhook", VALID_MID, f"b{secrets.token_hex(4)}"],
            ),
            # The control again: its mean with the first run is the denominator of the endpoints' ratios, so
            # that a neighbour's load on this shared machine weighs on both sides alike.
            WrkCommand("control_after", control, seconds),
            # Each login is an Argon2 verification: the default 2 s timeout would count queueing as errors.
            WrkCommand("login", f"{one.base_urls['auth']}/login", seconds, login_mode, timeout_s=30),
        ]
        for command in commands:
            idle(command.label)
            log(f"wrk {command.label}: {command.url} for {command.seconds}s")
            results.runs[command.label] = run_wrk(wrk, command)
            log(f"  {results.runs[command.label].summary()}")
        # /users/me while /login is loaded: the login load starts first and ends last, covering the window.
        idle("users_me_during_login")
        log(f"wrk users_me while login is loaded, for {seconds}s")
        background = WrkCommand(
            "login_during_users_me", f"{one.base_urls['auth']}/login", seconds + 2, login_mode, timeout_s=30
        )
        foreground = WrkCommand(
            "users_me_during_login", f"{one.base_urls['users']}/me", seconds, headers=[bearer]
        )
        with started(wrk, background) as finish_background:
            time.sleep(1.0)  # the login load is established before the window opens
            results.runs[foreground.label] = run_wrk(wrk, foreground)
            results.runs[background.label] = finish_background()
        log(f"  users/me {results.runs[foreground.label].summary()}")
        log(f"  login    {results.runs[background.label].summary()}")
        idle("logout")
        log("logout through auth, then 50 fresh-connection GET /users/me on the 2-worker users service")
        results.logout = logout_check(two)
