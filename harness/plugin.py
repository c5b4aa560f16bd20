"""The pytest plugin: options, row-ID markers, the session-wide target, the case lifecycle and the reports."""

import json
import re
import secrets
import shutil
import tempfile
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness import data
from harness.case import Case
from harness.catalogue import SERVICE_TAGS, Row, row_ids, rows
from harness.clients import Clients
from harness.faults.injector import FaultInjector
from harness.faults.lock import case_lock
from harness.faults.proxy import ProxyError, start_proxy
from harness.logs import LogSource, parse_log_source
from harness.masking import Masker
from harness.recorder import Recorder, attach_log_evidence
from harness.reports.document import OUTCOME_ICONS, RunInfo, case_entry, primary_exchange, run_document
from harness.reports.writer import new_report_dir, write_reports
from harness.settings import HarnessSettings
from harness.target import Target, TargetError, check_reachable, check_url, is_loopback

_TARGET_KEY = "harness_target"
_RUN_KEY = "harness_run_id"
_CASE_PROPERTY = "checklist_case"
_OPTIONS = {  # option → settings field
    "target": "target",
    "auth_url": "auth_base_url",
    "users_url": "users_base_url",
    "webhook_url": "webhook_base_url",
    "auth_log": "auth_log",
    "users_log": "users_log",
    "webhook_log": "webhook_log",
    "valid_mid": "webhook_valid_mid",
    "stack_backend": "stack_backend",
    "reports_dir": "reports_dir",
    "show_secrets": "show_secrets",
    "allow_destructive": "allow_destructive",
    "i_know": "i_know",
}
# The dependencies the reference stack routes through fault proxies: (service, dependency).
_PROXIED = (("webhook", "database"), ("auth", "database"), ("users", "redis"))
case_key = pytest.StashKey[Case]()
phases_key = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("checklist", "checklist harness")
    group.addoption("--target", choices=("reference", "external"), help="reference (default) or external")
    group.addoption("--auth-url", help="auth base URL (AUTH_BASE_URL)")
    group.addoption("--users-url", help="users base URL (USERS_BASE_URL)")
    group.addoption("--webhook-url", help="webhook URL (WEBHOOK_BASE_URL)")
    for service in ("auth", "users", "webhook"):
        group.addoption(f"--{service}-log", help=f"{service} log source: file:PATH, cmd:COMMAND or none")
    group.addoption("--valid-mid", help="a merchant id the deployment accepts (WEBHOOK_VALID_MID)")
    group.addoption("--stack-backend", help="reference stack backend: auto, embedded, docker, external")
    group.addoption("--reports-dir", type=Path, help="where run reports go (REPORTS_DIR, default reports)")
    group.addoption(
        "--show-secrets",
        action="store_true",
        default=None,
        help="do not mask secrets in reports (local debugging)",
    )
    group.addoption(
        "--allow-destructive",
        action="store_true",
        default=None,
        help="let fault cases change the deployment's database (FAULT_DB_DSN)",
    )
    group.addoption(
        "--i-know",
        action="store_true",
        default=None,
        help="confirm --allow-destructive against a non-loopback target",
    )


def settings_from(config: pytest.Config) -> HarnessSettings:
    given = {field: config.getoption(option) for option, field in _OPTIONS.items()}
    return HarnessSettings(**{field: value for field, value in given.items() if value is not None})


def _reference_target(settings: HarnessSettings, resources: ExitStack) -> Target:
    # The harness's one import of the reference implementation: booting it for `--target reference`.
    from reference_impl.stack.api import StackConfig, reference_stack
    from reference_impl.stack.processes import StackError

    proxies: dict[str, str] = {}

    def route(service: str, dependency: str, url: str) -> str:
        """Send the dependencies that fault cases cut through a fault proxy the harness controls."""
        if (service, dependency) not in _PROXIED:
            return url
        parts = urlsplit(url)
        proxy = resources.enter_context(start_proxy(parts.hostname or "127.0.0.1", parts.port or 0))
        proxies[f"{service}-{dependency}"] = f"{proxy.control.host}:{proxy.control.port}"
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{proxy.listen_port}" if userinfo else f"127.0.0.1:{proxy.listen_port}"
        return urlunsplit(parts._replace(netloc=netloc))

    config = StackConfig.from_environment(
        backend=settings.stack_backend,
        ports={"auth": 0, "users": 0, "webhook": 0},
        log_dir=Path("logs"),
        route=route,
    )
    try:
        stack = resources.enter_context(reference_stack(config))
    except (StackError, ProxyError) as exc:
        raise TargetError(f"the reference stack did not start: {exc}") from exc
    own_logs = {service: f"file:{path}" for service, path in stack.log_paths.items()}
    return Target(
        kind="reference",
        description=f"reference stack ({stack.backend} backend: {stack.backend_reason})",
        base_urls=stack.base_urls,
        valid_mid=settings.webhook_valid_mid,
        log_sources={
            service: given or own_logs[service] for service, given in settings.log_sources().items()
        },
        jwt_secret=stack.jwt_secret,
        database_url=stack.database_url,
        fault_proxies=proxies,
    )


def _external_target(settings: HarnessSettings) -> Target:
    remote = [url for url in settings.base_urls().values() if not is_loopback(url)]
    if settings.allow_destructive and remote and not settings.i_know:
        raise TargetError(
            f"--allow-destructive against a deployment that is not on this machine ({remote[0]}) needs --i-know too"
        )
    check_reachable(settings.base_urls())
    allowed_dsn = settings.fault_db_dsn if settings.allow_destructive else None
    return Target(
        kind="external",
        description="external deployment",
        base_urls=settings.base_urls(),
        valid_mid=settings.webhook_valid_mid,
        log_sources={service: given or "none" for service, given in settings.log_sources().items()},
        jwt_secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        database_url=allowed_dsn.get_secret_value() if allowed_dsn else None,
    )


def _row_of(item: pytest.Item) -> Row | None:
    known = {row.id: row for row in rows()}
    return next((known[mark.name] for mark in item.iter_markers() if mark.name in known), None)


def _example_of(item: pytest.Item) -> dict[str, str] | None:
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example") if callspec else None
    return {str(k): str(v) for k, v in example.items()} if example else None


def _case_key(run_id: str, item: pytest.Item) -> str:
    """<run id>-<row id>[.<example>]: only characters a service keeps in an X-Request-ID."""
    row = _row_of(item)
    key = f"{run_id}-{row.id if row else re.sub(r'[^A-Za-z0-9_-]', '', item.name)[:40]}"
    example = _example_of(item)
    if example:
        readable = re.sub(r"[^A-Za-z0-9_-]", "", ".".join(example.values()))
        callspec = getattr(item, "callspec", None)
        key += "." + (readable or f"ex{callspec.indices['_pytest_bdd_example'] + 1 if callspec else 0}")
    return key


def _outcome(phases: dict[str, pytest.TestReport]) -> tuple[str, str | None, str | None]:
    """passed / failed / skipped, the skip reason and the failure message, from the three phase reports."""
    for when in ("setup", "call", "teardown"):
        report = phases.get(when)
        if report is None:
            continue
        if report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            return "skipped", reason.removeprefix("Skipped: "), None
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else report.longreprtext
            where = "" if when == "call" else f"error in {when}: "
            return "failed", None, where + message
    return "passed", None, None


class HarnessPlugin:
    """Session state: the target (opened once; under xdist by the controller), the run and its cases."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = settings_from(config)
        self.resources = ExitStack()
        self._target: Target | None = None
        workerinput: dict[str, Any] = getattr(config, "workerinput", {})
        self.is_worker = bool(workerinput)
        self.run_id = workerinput.get(_RUN_KEY) or secrets.token_hex(3)
        data.set_run_id(self.run_id)
        self.masker = Masker(enabled=not self.settings.show_secrets)
        self.log_sources: dict[str, LogSource] = {}
        self.run = RunInfo(
            id=self.run_id,
            # Replaced once the target is open; what the run was aimed at, should it never get there.
            target={
                "kind": self.settings.target,
                "description": f"{self.settings.target} target (not reached)",
                "base_urls": self.settings.base_urls() if self.settings.target == "external" else {},
                "log_sources": {},
            },
            secrets_shown=self.settings.show_secrets,
        )
        self.cases: list[dict[str, Any]] = []
        self.report_dir: Path | None = None

    # ---- target -----------------------------------------------------------------------------------------------

    def target(self) -> Target:
        if self._target is None:
            shared = getattr(self.config, "workerinput", {}).get(_TARGET_KEY)
            if shared:
                target = Target.from_json(shared)
            else:
                for name, url in self.settings.base_urls().items():
                    check_url(name, url)
                target = (
                    _reference_target(self.settings, self.resources)
                    if self.settings.target == "reference"
                    else _external_target(self.settings)
                )
                lock_dir = Path(tempfile.mkdtemp(prefix="checklist-lock-"))
                self.resources.callback(shutil.rmtree, lock_dir, ignore_errors=True)
                target = replace(target, lock_path=str(lock_dir / "faults.lock"))
            self.log_sources = self._open_log_sources(target)
            self._target = target
            self.run.target = {
                "kind": target.kind,
                "description": target.description,
                "base_urls": target.base_urls,
                "log_sources": target.log_sources,
            }
        return self._target

    def _open_log_sources(self, target: Target) -> dict[str, LogSource]:
        sources = {}
        for service, spec in target.log_sources.items():
            try:
                source = parse_log_source(spec)
            except ValueError as exc:
                raise TargetError(f"{service}: {exc}") from exc
            source.start()  # only what is written from now on belongs to this run
            sources[service] = source
        return sources

    def target_or_exit(self) -> Target:
        try:
            return self.target()
        except TargetError as exc:
            pytest.exit(f"checklist target unusable: {exc}", returncode=3)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # xdist controller: hand the target opened in pytest_configure, and the run id, to every worker.
        node.workerinput[_RUN_KEY] = self.run_id
        if self._target is not None:
            node.workerinput[_TARGET_KEY] = self._target.to_json()

    # ---- case lifecycle ---------------------------------------------------------------------------------------

    def new_case(self, item: pytest.Item, clients: Clients, target: Target) -> Case:
        recorder = Recorder(_case_key(self.run_id, item))
        clients.bind(recorder if self.settings.evidence else None)
        case = Case(
            clients,
            target,
            self.settings.log_wait_seconds,
            recorder,
            self.log_sources,
            self.masker,
            FaultInjector(target, self.settings),
        )
        item.stash[case_key] = case
        return case

    def finish_case(self, case: Case) -> None:
        try:
            case.undo_faults()  # first: the next case must find the target whole
        finally:
            case.clients.bind(None)
            if self.settings.evidence:
                attach_log_evidence(case.recorder.exchanges, self.log_sources, self.settings.log_wait_seconds)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        phases = item.stash.setdefault(phases_key, {})
        phases[report.when] = report
        if report.when != "teardown" or not self._is_checklist_item(item):
            return
        status, reason, message = _outcome(phases)
        case = item.stash.get(case_key, None)
        entry = case_entry(
            nodeid=item.nodeid,
            row=_row_of(item),
            example=_example_of(item),
            outcome=status,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            duration_s=sum(phase.duration for phase in phases.values()),
            exchanges=case.recorder.exchanges if case and self.settings.evidence else [],
        )
        # Masked here, where the case's own secrets (the passwords it generated) are known.
        report.user_properties.append(
            (_CASE_PROPERTY, json.dumps(self.masker.json(entry), ensure_ascii=False))
        )

    def _is_checklist_item(self, item: pytest.Item) -> bool:
        return item.path.name == "test_checklist.py"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or self.is_worker:
            return
        for name, value in report.user_properties:
            if name == _CASE_PROPERTY:
                case = json.loads(str(value))
                self.cases.append(case)
                self._progress(case)

    @property
    def _progress_lines(self) -> bool:
        """At default verbosity one line per case replaces pytest's dots; -q keeps dots, -v pytest's lines."""
        return self.config.option.verbose == 0 and not self.is_worker

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self._progress_lines and self._runs_checklist:
            reporter.showfspath = False  # our lines name each case; pytest's file prefix would split them

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, str] | None:
        if not self._progress_lines or not report.nodeid.startswith("test_checklist.py"):
            return None
        if report.when == "call" or (report.when == "setup" and not report.passed):
            return report.outcome, "", report.outcome.upper()
        return None

    def _progress(self, case: dict[str, Any]) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or not self._progress_lines:
            return
        exchange = primary_exchange(case)
        status = exchange["status"] if exchange and exchange["status"] is not None else "—"
        example = " [" + ", ".join(case["example"].values()) + "]" if case["example"] else ""
        tail = f"  ({case['reason']})" if case["outcome"] == "skipped" else ""
        reporter.ensure_newline()
        reporter.write_line(
            f"{OUTCOME_ICONS[case['outcome']]} {case['row_id'] or 'extra':16} {status!s:>4}  {case['title']}{example}{tail}"
        )

    # ---- reports ----------------------------------------------------------------------------------------------

    def _write(self, status: str) -> None:
        if self.is_worker or not self.settings.evidence or not self._runs_checklist:
            return
        self.run.status = status  # type: ignore[assignment]
        if self.report_dir is None:
            self.report_dir = new_report_dir(self.settings.reports_dir, self.settings.target)
        document = run_document(self.run, self.cases)
        document["run"] = self.masker.json(document["run"])
        write_reports(document, self.report_dir)

    @property
    def _runs_checklist(self) -> bool:
        return _runs_checklist(self.config)

    def start_run(self) -> None:
        """A report exists from the start: a run that dies midway still leaves one saying it was running."""
        self._write("running")

    def fail_run(self, error: str) -> None:
        self.run.error = error
        self._write("error")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        self._write("interrupted" if interrupted else "completed")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self._runs_checklist or not self.cases:
            return
        terminalreporter.section("checklist")
        services: dict[str, dict[str, int]] = {}
        for case in self.cases:
            tally = services.setdefault(case["service"], {"passed": 0, "failed": 0, "skipped": 0})
            tally[case["outcome"]] += 1
        terminalreporter.write_line(f"{'service':10} {'passed':>7} {'failed':>7} {'skipped':>8}")
        for service in sorted(services, key=lambda s: (*SERVICE_TAGS, "extra").index(s)):
            tally = services[service]
            terminalreporter.write_line(
                f"{service:10} {tally['passed']:>7} {tally['failed']:>7} {tally['skipped']:>8}"
            )
        if self.report_dir is not None:
            terminalreporter.write_line(
                f"report: {self.report_dir}/report.html (also results.json, checklist.md, junit.xml)"
            )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.resources.close()


def _runs_checklist(config: pytest.Config) -> bool:
    """Whether this session runs the checklist (test_checklist.py), not merely the project's own tests."""
    return any(Path(arg.split("::")[0]).name in ("test_checklist.py", "features") for arg in config.args)


def pytest_configure(config: pytest.Config) -> None:
    for row_id in sorted(row_ids()):
        config.addinivalue_line("markers", f"{row_id}: checklist row {row_id}")
    for tag in SERVICE_TAGS:
        config.addinivalue_line("markers", f"{tag}: checklist rows of the {tag} service(s)")
    config.addinivalue_line("markers", "extra: cases beyond the checklist")
    config.addinivalue_line("markers", "fault: cases that break the target for a moment (run alone)")
    plugin = HarnessPlugin(config)
    config.pluginmanager.register(plugin, "checklist-harness")
    # Open the target before collection: a wrong URL ends the run here, in one line, not in 38 errors.
    # Under xdist this runs in the controller only, so the reference stack boots once for every worker.
    if _runs_checklist(config) and not config.option.collectonly and not plugin.is_worker:
        try:
            plugin.target()
        except TargetError as exc:
            plugin.fail_run(f"checklist target unusable: {exc}")
            raise pytest.UsageError(f"checklist target unusable: {exc}") from None
        plugin.start_run()


def _plugin(config: pytest.Config) -> HarnessPlugin:
    plugin = config.pluginmanager.get_plugin("checklist-harness")
    assert isinstance(plugin, HarnessPlugin)
    return plugin


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    return _plugin(pytestconfig).target_or_exit()


@pytest.fixture(scope="session")
def clients(target: Target, pytestconfig: pytest.Config) -> Iterator[Clients]:
    session_clients = Clients(target.base_urls, _plugin(pytestconfig).settings.request_timeout)
    yield session_clients
    session_clients.close()


@pytest.fixture
def case(request: pytest.FixtureRequest, clients: Clients, target: Target) -> Iterator[Case]:
    plugin = _plugin(request.config)
    exclusive = request.node.get_closest_marker("fault") is not None
    with ExitStack() as held:
        if target.lock_path:
            held.enter_context(case_lock(Path(target.lock_path), exclusive=exclusive))
        current = plugin.new_case(request.node, clients, target)
        try:
            yield current
        finally:
            plugin.finish_case(current)
