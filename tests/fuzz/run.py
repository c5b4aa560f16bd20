"""`tox -e fuzz`: Schemathesis against the live reference stack, every operation of all three services.

Boots the stack (embedded backend, free ports), registers one user per authenticated service for its bearer
token, then runs `schemathesis run` on each service's /openapi.json with every check and the settings in
`schemathesis.toml` beside this file (fixed seed and example budget, valid and invalid inputs). After each run the
service must still answer /health. Exits non-zero when any run fails; prints one summary line per service.

Usage: python -m tests.fuzz.run [--reports DIR] [schemathesis run options, e.g. --max-examples 10]
"""

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reference_impl.stack.api import SERVICES, RunningStack, StackConfig, reference_stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Services whose operations need a bearer token; each gets its own user, so that the auth run's POST /logout
# (which revokes its token) cannot make the users run see nothing but 401.
AUTHENTICATED = ("auth", "users")


@dataclass(frozen=True)
class Outcome:
    service: str
    exit_code: int
    operations: int
    test_cases: int
    failures: int
    healthy_after: bool

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.failures == 0 and self.healthy_after

    def line(self) -> str:
        status = "passed" if self.passed else "FAILED"
        health = "" if self.healthy_after else ", /health does not answer"
        return (
            f"{self.service:8} {status}: {self.operations} operations, {self.test_cases} test cases, "
            f"{self.failures} failures (exit {self.exit_code}){health}"
        )


def access_token(stack: RunningStack) -> str:
    tag = uuid.uuid4().hex[:12]
    account = {
        "second_login": f"fuzz_{tag}",
        "phone": f"+7{uuid.uuid4().int % 10**10:010d}",
        "email": f"fuzz_{tag}@example.com",
        "password": f"Pw-{secrets.token_urlsafe(12)}",
    }
    response = httpx.post(f"{stack.base_urls['auth']}/register", json=account, timeout=10)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def healthy(origin: str) -> bool:
    try:
        return httpx.get(f"{origin}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def fuzz(service: str, stack: RunningStack, reports: Path, extra: list[str]) -> Outcome:
    origin = stack.origins[service]
    report_dir = reports / service
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{origin}/openapi.json",
        "--checks",
        "all",
        "--report",
        "json,junit",
        "--report-dir",
        str(report_dir),
    ]
    if service in AUTHENTICATED:
        argv += ["--header", f"Authorization: Bearer {access_token(stack)}"]
    print(f"\n=== {service}: {origin}/openapi.json", flush=True)
    # Its own working directory: nothing of the run is left in the repository.
    with tempfile.TemporaryDirectory() as workdir:
        exit_code = subprocess.run([*argv, *extra], cwd=workdir, check=False).returncode
    summary = _json_report(report_dir)
    return Outcome(
        service=service,
        exit_code=exit_code,
        operations=int(summary.get("operations", {}).get("tested", 0)),
        test_cases=int(summary.get("test_cases", {}).get("generated", 0)),
        failures=int(summary.get("test_cases", {}).get("unique_failures", 0))
        + len(summary.get("errors", [])),
        healthy_after=healthy(origin),
    )


def _json_report(report_dir: Path) -> dict[str, Any]:
    """Schemathesis' JSON report of the run (its counts), or {} when the run wrote none."""
    reports = sorted(report_dir.glob("json-*.json"))
    if not reports:
        return {}
    loaded: dict[str, Any] = json.loads(reports[-1].read_text(encoding="utf-8"))
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=Path, default=Path("reports/fuzz"), help="JSON and JUnit reports")
    # Anything else goes to every `schemathesis run`, e.g. --max-examples 10 for a quick look.
    args, extra = parser.parse_known_args(argv)
    started = time.perf_counter()
    reports = args.reports.resolve()
    # The services' logs stay beside the reports: a failure's request id leads to its traceback.
    config = StackConfig(backend="embedded", ports=dict.fromkeys(SERVICES, 0), log_dir=reports / "logs")
    with reference_stack(config) as stack:
        outcomes = [fuzz(service, stack, reports, extra) for service in SERVICES]
    print(f"\n=== fuzz summary ({time.perf_counter() - started:.0f}s, reports in {args.reports}/)")
    for outcome in outcomes:
        print(outcome.line())
    total = sum(o.failures for o in outcomes)
    print(
        f"total: {sum(o.operations for o in outcomes)} operations, {sum(o.test_cases for o in outcomes)} "
        f"test cases, {total} failures"
    )
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
