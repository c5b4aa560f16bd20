"""The pytest plugin: options, row-ID markers, the session-wide target, the case lifecycle and the reports."""

import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import cache
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
from harness.faults.outages import FaultUnavailable
from harness.faults.proxy import ProxyError, start_proxies
from harness.interrupts import InterruptGuard
from harness.logs import FileSource, LogSource, parse_log_source
from harness.masking import Masker
from harness.outcomes import ICONS, OUTCOMES, Blocked, CheckFailed, Outcome
from harness.plan import PlannedCase, all_cases, extra_case_ids, needed_services, planned_case, selected_cases
from harness.recorder import LogCorrelator, Recorder
from harness.reports import allure
from harness.reports.compare import Baseline, latest_baseline, load_baseline
from harness.reports.document import (
    RunInfo,
    case_entry,
    counts_by_service,
    log_notes,
    primary_exchange,
    run_document,
    subject_exchange,
    verdict_line,
)
from harness.reports.writer import new_report_dir, write_reports
from harness.settings import HarnessSettings, SettingsError, Sources, env_name, load_settings
from harness.target import Target, TargetError, check_url, is_loopback, preflight

_TARGET_KEY = "harness_target"
_RUN_KEY = "harness_run_id"
_CASE_PROPERTY = "checklist_case"
_OPTIONS = {  # option → settings field
    "target": "target",
    "base_url": "base_url",
    "auth_url": "auth_base_url",
    "users_url": "users_base_url",
    "webhook_url": "webhook_base_url",
    "auth_log": "auth_log",
    "users_log": "users_log",
    "webhook_log": "webhook_log",
    "valid_mid": "webhook_valid_mid",
    "stack_backend": "stack_backend",
    "reports_dir": "reports_dir",
    "compare": "compare_run",
    "show_secrets": "show_secrets",
    "allow_destructive": "allow_destructive",
    "i_know": "i_know",
}
# The dependencies the reference stack routes through fault proxies: (service, dependency).
_PROXIED = (("webhook", "database"), ("auth", "database"), ("auth", "redis"))
case_key = pytest.StashKey[Case]()
verdict_key = pytest.StashKey["Verdict"]()
phases_key = pytest.StashKey[dict[str, pytest.TestReport]]()


@dataclass
class Verdict:
    """A case's outcome as its phases reveal it: the first phase that did not pass decides."""

    outcome: Outcome = "passed"
    reason: str | None = None  # blocked, skipped
    message: str | None = None  # failed


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("checklist", "checklist harness")
    group.addoption("--target", help="reference (default) or external")
    # pytest-base-url's option: that plugin, when installed, has registered it already (entry points load first).
    with contextlib.suppress(ValueError):
        parser.addoption(
            "--base-url",
            metavar="url",
            help="one URL in front of all three services: /api/v1/auth, /api/v1/users and /webhook under it (BASE_URL)",
        )
    group.addoption("--auth-url", help="auth base URL (AUTH_BASE_URL)")
    group.addoption("--users-url", help="users base URL (USERS_BASE_URL)")
    group.addoption("--webhook-url", help="webhook URL (WEBHOOK_BASE_URL)")
    for service in ("auth", "users", "webhook"):
        group.addoption(f"--{service}-log", help=f"{service} log source: file:PATH, cmd:COMMAND or none")
    group.addoption("--valid-mid", help="a merchant id the deployment accepts (WEBHOOK_VALID_MID)")
    group.addoption("--stack-backend", help="reference stack backend: auto, embedded, docker, external")
    group.addoption("--reports-dir", help="where run reports go (REPORTS_DIR, default reports)")
    group.addoption(
        "--env-file",
        metavar="FILE",
        help="read settings from FILE instead of ./.env (CHECKLIST_ENV_FILE), e.g. the one `up` writes",
    )
    group.addoption(
        "--compare",
        metavar="RUN_DIR",
        help="compare with this earlier run's report folder (COMPARE_RUN; default: the newest against the same target)",
    )
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


def _given_options(config: pytest.Config) -> tuple[dict[str, Any], Sources]:
    """The settings given on the command line, and where the rest come from (for messages)."""
    given, flags = {}, {}
    for option, name in _OPTIONS.items():
        value = config.getoption(option)
        if value is not None:
            given[name] = value
            flags[name] = "--" + option.replace("_", "-")
    env_file = config.getoption("env_file") or os.environ.get("CHECKLIST_ENV_FILE")
    if config.getoption("env_file"):
        flags["env_file"] = "--env-file"
    elif env_file:
        flags["env_file"] = "CHECKLIST_ENV_FILE"
    return given, Sources(flags, Path(env_file) if env_file else Sources().env_file)


def settings_from(config: pytest.Config) -> HarnessSettings:
    given, sources = _given_options(config)
    return load_settings(given, sources)


def _fallback_settings(config: pytest.Config) -> HarnessSettings:
    """Enough settings to write a report saying why the real ones could not be loaded."""
    reports = config.getoption("reports_dir") or os.environ.get("REPORTS_DIR") or "reports"
    return HarnessSettings.model_construct(reports_dir=Path(reports))


def _reference_target(settings: HarnessSettings, resources: ExitStack) -> Target:
    # The harness's one import of the reference implementation: booting it for `--target reference`.
    from reference_impl.stack.api import StackConfig, reference_stack
    from reference_impl.stack.processes import StackError, free_port

    proxies: dict[str, str] = {}
    wanted: list[tuple[str, str, int, int]] = []  # (key, upstream host, upstream port, listen port)

    def route(service: str, dependency: str, url: str) -> str:
        """Send the dependencies that fault cases cut through fault proxies the harness controls. The stack asks
        for every route before it starts a service: the proxies start together, in one process, once the last
        one is known, on the listen ports given out here."""
        if (service, dependency) not in _PROXIED:
            return url
        parts = urlsplit(url)
        listen_port = free_port()
        wanted.append(
            (f"{service}-{dependency}", parts.hostname or "127.0.0.1", parts.port or 0, listen_port)
        )
        if len(wanted) == len(_PROXIED):
            started = resources.enter_context(
                start_proxies([(host, port, listen) for _, host, port, listen in wanted])
            )
            for (key, *_), proxy in zip(wanted, started, strict=True):
                proxies[key] = f"{proxy.control.host}:{proxy.control.port}"
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{listen_port}" if userinfo else f"127.0.0.1:{listen_port}"
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


def _external_target(settings: HarnessSettings, needed: frozenset[str]) -> tuple[Target, dict[str, str]]:
    """The deployment at the configured URLs, and the problems of the services the selection does not need."""
    remote = [url for url in settings.base_urls().values() if not is_loopback(url)]
    if settings.allow_destructive and remote and not settings.i_know:
        raise TargetError(
            f"--allow-destructive against a deployment that is not on this machine ({remote[0]}) needs --i-know too"
        )
    problems = {
        service: problem and problem + settings.url_origin(service)
        for service, problem in preflight(
            settings.base_urls(), timeout=min(settings.request_timeout, 5.0)
        ).items()
    }
    fatal = [problem for service, problem in problems.items() if problem and service in needed]
    if fatal:
        raise TargetError(fatal[0])
    allowed_dsn = settings.fault_db_dsn if settings.allow_destructive else None
    target = Target(
        kind="external",
        description="external deployment",
        base_urls=settings.base_urls(),
        valid_mid=settings.webhook_valid_mid,
        log_sources={service: given or "none" for service, given in settings.log_sources().items()},
        jwt_secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        database_url=allowed_dsn.get_secret_value() if allowed_dsn else None,
    )
    return target, {service: problem for service, problem in problems.items() if problem}


def _row_of(item: pytest.Item) -> Row | None:
    known = {row.id: row for row in rows()}
    return next((known[mark.name] for mark in item.iter_markers() if mark.name in known), None)


def _example_of(item: pytest.Item) -> dict[str, str] | None:
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example") if callspec else None
    return {str(k): str(v) for k, v in example.items()} if example else None


def _case_key(run_id: str, item: pytest.Item) -> str:
    """<run id>-<row or EXTRA- id>[.<example>]: readable ASCII, which every service keeps in an X-Request-ID."""
    planned = planned_case(item.nodeid)
    row = _row_of(item)
    case_id = planned.case_id if planned else (row.id if row else "case")
    key = f"{run_id}-{case_id}"
    example = _example_of(item)
    if example:
        readable = re.sub(r"[^A-Za-z0-9_-]", "", ".".join(example.values()))
        callspec = getattr(item, "callspec", None)
        key += "." + (readable or f"ex{callspec.indices['_pytest_bdd_example'] + 1 if callspec else 0}")
    return key


def _verdict_of(phase: str, report: pytest.TestReport, call: pytest.CallInfo[None]) -> Verdict | None:
    """What a phase that did not pass says about the case; None for a phase that passed."""
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return Verdict("skipped", reason=reason.removeprefix("Skipped: "))
    if not report.failed:
        return None
    error = call.excinfo.value if call.excinfo is not None else None
    # A verdict (Blocked, CheckFailed) is the row's own in whatever phase it is raised, not a harness error.
    where = "" if phase == "call" or isinstance(error, Blocked | CheckFailed) else f"error in {phase}: "
    if isinstance(error, Blocked):
        return Verdict("blocked", reason=where + str(error))
    if isinstance(error, CheckFailed):
        return Verdict("failed", message=where + str(error))
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else report.longreprtext
    return Verdict("failed", message=where + message)


class HarnessPlugin:
    """Session state: the target (opened once; under xdist by the controller), the run and its cases."""

    def __init__(self, config: pytest.Config, settings: HarnessSettings) -> None:
        self.config = config
        self.settings = settings
        self.resources = ExitStack()
        self._target: Target | None = None
        workerinput: dict[str, Any] = getattr(config, "workerinput", {})
        self.is_worker = bool(workerinput)
        self.run_id = workerinput.get(_RUN_KEY) or secrets.token_hex(3)
        data.set_run_id(self.run_id)
        self.masker = Masker(enabled=not self.settings.show_secrets)
        self.log_sources: dict[str, LogSource] = {}
        self.correlator = LogCorrelator({}, self.settings.log_wait_seconds)
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
        # The cases this run means to execute: worked out before collection, refined once it is known.
        self.selected: list[PlannedCase] = []
        self.interrupts = InterruptGuard()
        self.baseline: Baseline | None = None  # the earlier run this one is compared with
        self.own_summary = False  # the run's end shows the checklist's paragraphs instead of pytest's summary

    # ---- target -----------------------------------------------------------------------------------------------

    def open_target(self, needed: frozenset[str]) -> Target:
        """Boot or reach the target, check what the selected cases need of it, and open its log sources.
        The settings are checked first, so that a mistyped one costs no stack boot."""
        for service, spec in self.settings.log_sources().items():
            if spec is not None:
                self._log_source(service, spec)
        if self.settings.target == "external":
            if self.settings.base_url:
                check_url("the", self.settings.base_url)
            for name, url in self.settings.base_urls().items():
                check_url(name, url)
        if self.settings.target == "reference":
            target = _reference_target(self.settings, self.resources)
            unneeded: dict[str, str] = {}
        else:
            target, unneeded = _external_target(self.settings, needed)
        self.run.preflight = {
            service: {"needed": service in needed, "problem": unneeded.get(service)}
            for service in target.base_urls
        }
        if (
            target.database_url
            and target.kind == "external"
            and any(case.row_id == "WEBHOOK-05" for case in self.selected)
        ):
            self._check_fault_dsn(target.database_url)
        lock_dir = Path(tempfile.mkdtemp(prefix="checklist-lock-"))
        self.resources.callback(shutil.rmtree, lock_dir, ignore_errors=True)
        target = replace(target, lock_path=str(lock_dir / "faults.lock"))
        self._adopt(target)
        return target

    def _check_fault_dsn(self, dsn: str) -> None:
        from harness.faults.functions import check_connects
        from harness.faults.outages import FaultFailed

        try:
            check_connects(dsn)
        except FaultFailed as exc:
            source = _given_options(self.config)[1].of("fault_db_dsn")
            raise SettingsError(f"FAULT_DB_DSN (from {source}) does not connect: {exc}") from None

    def _adopt(self, target: Target) -> None:
        self.log_sources = self._open_log_sources(target)
        self.correlator = LogCorrelator(self.log_sources, self.settings.log_wait_seconds)
        self._target = target
        self.run.target = {
            "kind": target.kind,
            "description": target.description,
            "base_urls": target.base_urls,
            "log_sources": target.log_sources,
        }

    def target(self) -> Target:
        if self._target is None:
            shared = getattr(self.config, "workerinput", {}).get(_TARGET_KEY)
            if not shared:
                raise TargetError("the target was not opened before the cases ran")
            self._adopt(Target.from_json(shared))
        assert self._target is not None
        return self._target

    def _log_source(self, service: str, spec: str) -> LogSource:
        """The service's log source; a SettingsError naming the setting if it is malformed or unreadable."""
        field = f"{service}_log"

        def setting() -> str:  # where the value came from, looked up only to name it in an error
            return f"{env_name(field)} (from {_given_options(self.config)[1].of(field)})"

        try:
            source = parse_log_source(spec)
        except ValueError as exc:
            raise SettingsError(f"{setting()}: {exc}") from None
        if isinstance(source, FileSource) and not os.access(source.path, os.R_OK):
            problem = "does not exist" if not source.path.exists() else "cannot be read"
            raise SettingsError(f"{setting()}: log file {source.path} {problem}")
        return source

    def _open_log_sources(self, target: Target) -> dict[str, LogSource]:
        sources = {}
        for service, spec in target.log_sources.items():
            source = self._log_source(service, spec)
            source.start()  # only what is written from now on belongs to this run
            sources[service] = source
        return sources

    def target_or_exit(self) -> Target:
        try:
            return self.target()
        except TargetError as exc:
            pytest.exit(f"checklist target unusable: {exc}", returncode=4)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # xdist controller: hand the target opened in pytest_configure, and the run id, to every worker.
        node.workerinput[_RUN_KEY] = self.run_id
        if self._target is not None:
            node.workerinput[_TARGET_KEY] = self._target.to_json()

    # ---- selection --------------------------------------------------------------------------------------------

    def _collected(self, nodeids: list[str]) -> None:
        """The real selection replaces the one worked out before collection."""
        self.selected = [case for nodeid in nodeids if (case := planned_case(nodeid)) is not None]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not self.is_worker:
            self._collected([item.nodeid for item in items if self._is_checklist_item(item)])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._collected(ids)

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

    def _learn_secrets(self, case: Case) -> None:
        """Secrets by meaning (values under secret keys), so that they are masked wherever else they show up."""
        for exchange in case.recorder.exchanges:
            for value in (exchange.request_headers, exchange.request_body, exchange.response_body):
                self.masker.learn(value)

    @pytest.hookimpl
    def pytest_bdd_after_scenario(self, request: pytest.FixtureRequest) -> None:
        """Each exchange's log records, then the evidence every row owes, checked while the test still runs: a
        row without it is a failed row (pytest and its JUnit say "failed"), not an error in teardown. pytest-bdd
        calls this from a `finally`: when a step's failure is on its way, that failure is the verdict, and the
        evidence is only gathered."""
        case = request.node.stash.get(case_key, None)
        if case is None or not self.settings.evidence:
            return
        self.correlator.attach(case.recorder.exchanges)
        if sys.exc_info()[1] is None:
            case.check_evidence()

    def finish_case(self, case: Case) -> None:
        try:
            case.undo_faults()  # first: the next case must find the target whole
        finally:
            case.clients.bind(None)
            if self.settings.evidence:
                # Whatever was sent after the steps (undoing a fault) has its records looked up too.
                self.correlator.attach(
                    [exchange for exchange in case.recorder.exchanges if exchange.log is None]
                )
                if allure.enabled(self.config):  # its steps' secrets were learnt when their report was made
                    allure.attach_evidence(case.recorder.exchanges, self.masker)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if not self._is_checklist_item(item):
            return
        phases = item.stash.setdefault(phases_key, {})
        phases[report.when] = report
        verdict = item.stash.setdefault(verdict_key, Verdict())
        found = _verdict_of(report.when, report, call)
        if found is not None and verdict.outcome == "passed":
            verdict.outcome, verdict.reason, verdict.message = found.outcome, found.reason, found.message
        case = item.stash.get(case_key, None)
        if case is not None and report.when == "call":  # only a case's steps send requests
            self._learn_secrets(case)
        if found is not None:
            # Travels with the report to the xdist controller and the terminal (see pytest_report_teststatus).
            report.checklist_outcome = found.outcome  # type: ignore[attr-defined]
        if report.failed:
            # What the terminal shows of a failure is masked too: by default the verdict alone (the reasons are
            # listed at the end of the run), with an explicit --tb the whole traceback.
            full = self.config.option.tbstyle not in ("auto", "no")
            text = report.longreprtext if full else (found.message or found.reason if found else "") or ""
            report.longrepr = self.masker.text(text)
        if report.when != "teardown":
            return
        planned = planned_case(item.nodeid)
        entry = case_entry(
            nodeid=item.nodeid,
            row=_row_of(item),
            case_id=planned.case_id if planned else item.name,
            title=planned.title if planned else item.name,
            example=_example_of(item),
            outcome=verdict.outcome,
            reason=verdict.reason,
            message=verdict.message,
            duration_s=sum(phase.duration for phase in phases.values()),
            exchanges=case.recorder.exchanges if case and self.settings.evidence else [],
            subject=case.subject if case and verdict.outcome in ("failed", "blocked") else None,
        )
        # Masked here, where the case's own secrets (the passwords it generated) are known.
        report.user_properties.append(
            (_CASE_PROPERTY, json.dumps(self.masker.json(entry), ensure_ascii=False))
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or self.is_worker:
            return
        for name, value in report.user_properties:
            if name == _CASE_PROPERTY:
                case = json.loads(str(value))
                self.cases.append(case)
                self._progress(case)

    def _is_checklist_item(self, item: pytest.Item) -> bool:
        return item.path.name == "test_checklist.py"

    @property
    def _progress_lines(self) -> bool:
        """At default verbosity one line per case replaces pytest's dots; -q keeps dots, -v pytest's lines."""
        return self.config.option.verbose == 0 and not self.is_worker

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.own_summary:
            reporter.reportchars = ""  # pytest's short summary would repeat the paragraphs, less clearly

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self._progress_lines and self._runs_checklist:
            reporter.showfspath = False  # our lines name each case; pytest's file prefix would split them

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, str] | None:
        if not report.nodeid.startswith("test_checklist.py"):
            return None
        blocked = getattr(report, "checklist_outcome", None) == "blocked"
        if self._progress_lines:
            if report.when == "call" or (report.when == "setup" and not report.passed):
                word = "blocked" if blocked else report.outcome
                return word, "", word.upper()
            return None
        if blocked:
            return "blocked", "B", "BLOCKED"
        return None

    def _progress(self, case: dict[str, Any]) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or not self._progress_lines:
            return
        exchange = primary_exchange(case)
        status = exchange["status"] if exchange and exchange["status"] is not None else "—"
        reporter.ensure_newline()
        reporter.write_line(
            f"{ICONS[case['outcome']]} {case['case_id']:16} {status!s:>4}  {case['title']}{_example_suffix(case)}"
        )
        if case["outcome"] != "passed":
            reporter.write_line(f"{'':22}{verdict_line(case)}")

    # ---- reports ----------------------------------------------------------------------------------------------

    def _write(self, status: str) -> None:
        if self.is_worker or not self.settings.evidence or not self._runs_checklist:
            return
        self.run.status = status  # type: ignore[assignment]
        if self.report_dir is None:
            self.report_dir = new_report_dir(self.settings.reports_dir, self.settings.target)
        self.run.log_notes = log_notes(self.cases)
        document = run_document(self.run, sorted(self.cases, key=_checklist_order), baseline=self.baseline)
        document["run"] = self.masker.json(document["run"])
        write_reports(document, self.report_dir)

    @property
    def _runs_checklist(self) -> bool:
        return _runs_checklist(self.config)

    def choose_baseline(self, *, target_known: bool) -> None:
        """The earlier run to compare with: the one --compare names (checked before the target opens), else the
        newest against this target (once it is known)."""
        given = self.settings.compare_run
        if given is not None and not target_known:
            self.baseline = load_baseline(given)
            if self.baseline is None:
                source = _given_options(self.config)[1].of("compare_run")
                raise SettingsError(f"{given} (from {source}) is not a run's report folder with results")
        elif given is None and target_known:
            self.baseline = latest_baseline(
                self.settings.reports_dir, self.run.target, exclude=self.report_dir
            )

    def start_run(self) -> None:
        """A report exists from the start: a run that dies midway still leaves one saying it was running."""
        self._write("running")

    def fail_run(self, error: str) -> None:
        self.run.error = error
        self._write("error")

    def _not_run(self, why: str) -> list[dict[str, Any]]:
        done = {case["nodeid"] for case in self.cases}
        known = {row.id: row for row in rows()}
        return [
            case_entry(
                nodeid=planned.nodeid,
                row=known.get(planned.row_id or ""),
                case_id=planned.case_id,
                title=planned.title,
                example=planned.example,
                outcome="not_run",
                reason=why,
                message=None,
                duration_s=0.0,
                exchanges=[],
            )
            for planned in self.selected
            if planned.nodeid not in done
        ]

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if interrupted:
            self.cases += self._not_run("the run was interrupted before this case")
        elif session.shouldstop or session.shouldfail:
            self.cases += self._not_run(
                f"the run stopped before this case: {session.shouldstop or session.shouldfail}"
            )
        self._write("interrupted" if interrupted else "completed")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self._runs_checklist:
            return
        if self.config.option.tbstyle == "no":
            # Tracebacks are off for the cases (their paragraphs say it all), not for a feature that fails to load.
            for report in terminalreporter.stats.get("error", []):
                if isinstance(report, pytest.CollectReport):
                    terminalreporter.write_line(report.longreprtext)
        for service, entry in self.run.preflight.items():
            if entry["problem"]:
                terminalreporter.write_line(
                    f"note: {entry['problem']} (no selected case needs the {service} service)"
                )
        if unused := self.settings.unused_urls():
            sources = _given_options(self.config)[1]
            names = ", ".join(sources.options.get(name) or env_name(name) for name in unused)
            terminalreporter.write_line(
                f"note: the target is the reference stack (from {sources.of('target')}), which serves its own URLs:"
                f" {names} set and not used"
            )
        if not self.cases:
            return
        terminalreporter.section("checklist")
        services = counts_by_service(self.cases)
        shown = [
            outcome
            for outcome in OUTCOMES
            if outcome in ("passed", "failed", "skipped")
            or any(tally[outcome] for tally in services.values())
        ]
        terminalreporter.write_line(f"{'service':10} " + " ".join(f"{o.replace('_', ' '):>8}" for o in shown))
        for service, tally in services.items():
            terminalreporter.write_line(f"{service:10} " + " ".join(f"{tally[o]:>8}" for o in shown))
        self._paragraphs(terminalreporter)
        if self.report_dir is not None:
            terminalreporter.write_line(
                f"report: {self.report_dir}/report.html (also results.json, checklist.md, junit.xml)"
            )

    def _paragraphs(self, terminalreporter: Any) -> None:
        """One short paragraph per failed or blocked case: the row, what it expected, what came back, the call,
        and why."""
        red = [
            case
            for case in sorted(self.cases, key=_checklist_order)
            if case["outcome"] in ("failed", "blocked")
        ]
        if not red:
            return
        terminalreporter.section("what did not pass", sep="-")
        for case in red:
            terminalreporter.write_line(
                f"{ICONS[case['outcome']]} {case['case_id']}  {case['title']}{_example_suffix(case)}"
            )
            subject = subject_exchange(case)
            lines = [("expected", case["expected"])]
            if subject is not None:
                answer = subject["status"] if subject["status"] is not None else subject["error"]
                body = subject["response_body"]
                shown = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
                lines += [
                    ("got", f"{answer} {shown if body is not None else ''}".strip()[:200]),
                    (
                        "call",
                        f"{subject['method']} {subject['url']} ({subject['role']}, X-Request-ID {subject['request_id_sent']})",
                    ),
                ]
            lines.append(("why", verdict_line(case)))
            for label, value in lines:
                if value:
                    terminalreporter.write_line(f"    {label:9} {value}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        try:
            self.resources.close()
        finally:
            self.interrupts.uninstall()


@cache
def _positions() -> tuple[dict[str, int], dict[str, int]]:
    return (
        {row.id: index for index, row in enumerate(rows())},
        {planned.nodeid: index for index, planned in enumerate(all_cases())},
    )


def _example_suffix(case: dict[str, Any]) -> str:
    """The example's values after a case's title in the terminal: ` [email]`."""
    return " [" + ", ".join(case["example"].values()) + "]" if case["example"] else ""


def _checklist_order(case: dict[str, Any]) -> tuple[int, int]:
    """Checklist rows in the checklist's order, each row's examples in theirs, cases beyond it last."""
    row_index, plan_index = _positions()
    return row_index.get(case["row_id"], len(row_index)), plan_index.get(case["nodeid"], len(plan_index))


def _runs_checklist(config: pytest.Config) -> bool:
    """Whether this session runs the checklist (test_checklist.py), not merely the project's own tests."""
    return any(Path(arg.split("::")[0]).name in ("test_checklist.py", "features") for arg in config.args)


def pytest_configure(config: pytest.Config) -> None:
    for row_id in sorted(row_ids()):
        config.addinivalue_line("markers", f"{row_id}: checklist row {row_id}")
    for tag in SERVICE_TAGS:
        config.addinivalue_line("markers", f"{tag}: checklist rows of the {tag} service(s)")
    config.addinivalue_line("markers", "extra: cases beyond the checklist")
    for extra in extra_case_ids():
        config.addinivalue_line("markers", f"{extra}: the case beyond the checklist {extra}")
    config.addinivalue_line("markers", "fault: cases that break the target for a moment (run alone)")
    runs = _runs_checklist(config) and not config.option.collectonly
    try:
        settings = settings_from(config)
    except SettingsError as exc:
        if runs and not hasattr(config, "workerinput"):
            failed = HarnessPlugin(config, _fallback_settings(config))
            config.pluginmanager.register(failed, "checklist-harness")
            failed.fail_run(f"bad setting: {exc}")
        raise pytest.UsageError(f"bad setting: {exc}") from None
    plugin = HarnessPlugin(config, settings)
    config.pluginmanager.register(plugin, "checklist-harness")
    if runs and config.option.tbstyle == "auto":
        # The checklist's own paragraphs say what did not pass and why; --tb brings pytest's tracebacks back.
        config.option.tbstyle = "no"
        plugin.own_summary = True
    # Open the target before collection: a wrong URL ends the run here, in one line, not in 38 errors.
    # Under xdist this runs in the controller only, so the reference stack boots once for every worker.
    if runs and not plugin.is_worker:
        plugin.selected = selected_cases(config)
        # Before the stack boots: a SIGTERM during the boot must stop it as Ctrl-C does, not kill the run outright.
        plugin.interrupts.install()
        try:
            plugin.choose_baseline(target_known=False)
            plugin.open_target(needed_services(plugin.selected))
            plugin.choose_baseline(target_known=True)
        except KeyboardInterrupt:
            plugin.run.error = "interrupted while the target was being opened"
            plugin._write("interrupted")
            plugin.resources.close()
            raise
        except SettingsError as exc:
            plugin.fail_run(f"bad setting: {exc}")
            plugin.resources.close()
            raise pytest.UsageError(f"bad setting: {exc}") from None
        except TargetError as exc:
            plugin.fail_run(f"checklist target unusable: {exc}")
            plugin.resources.close()
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
    planned = planned_case(request.node.nodeid)
    if allure.enabled(request.config):
        row = _row_of(request.node)
        allure.label_case(planned.case_id if planned else request.node.name, row.service if row else "extra")
    injector = FaultInjector(target, plugin.settings)
    for fault in sorted(planned.faults if planned else ()):
        try:
            injector.require(fault)
        except FaultUnavailable as exc:  # before any step: a missing setting is the reason, not a broken call
            pytest.skip(str(exc))
    exclusive = request.node.get_closest_marker("fault") is not None
    with ExitStack() as held:
        if target.lock_path:
            held.enter_context(case_lock(Path(target.lock_path), exclusive=exclusive))
        current = plugin.new_case(request.node, clients, target)
        try:
            yield current
        finally:
            plugin.finish_case(current)
