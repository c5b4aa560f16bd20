"""The pytest plugin: options, row-ID markers, the session-wide target and the per-case fixtures."""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.case import Case
from harness.catalogue import SERVICE_TAGS, row_ids
from harness.clients import Clients
from harness.settings import HarnessSettings
from harness.target import Target, TargetError, check_reachable

_TARGET_KEY = "harness_target"
_OPTIONS = {  # option → settings field
    "target": "target",
    "auth_url": "auth_base_url",
    "users_url": "users_base_url",
    "webhook_url": "webhook_base_url",
    "valid_mid": "webhook_valid_mid",
    "webhook_log_file": "webhook_log_file",
    "stack_backend": "stack_backend",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("checklist", "checklist harness")
    group.addoption("--target", choices=("reference", "external"), help="reference (default) or external")
    group.addoption("--auth-url", help="auth base URL (AUTH_BASE_URL)")
    group.addoption("--users-url", help="users base URL (USERS_BASE_URL)")
    group.addoption("--webhook-url", help="webhook URL (WEBHOOK_BASE_URL)")
    group.addoption("--valid-mid", help="a merchant id the deployment accepts (WEBHOOK_VALID_MID)")
    group.addoption("--webhook-log-file", help="the webhook service's log file (WEBHOOK_LOG_FILE)")
    group.addoption("--stack-backend", help="reference stack backend: auto, embedded, docker, external")


def settings_from(config: pytest.Config) -> HarnessSettings:
    given = {field: config.getoption(option) for option, field in _OPTIONS.items()}
    return HarnessSettings(**{field: value for field, value in given.items() if value is not None})


def _reference_target(settings: HarnessSettings, resources: ExitStack) -> Target:
    # The harness's one import of the reference implementation: booting it for `--target reference`.
    from reference_impl.stack.api import StackConfig, reference_stack
    from reference_impl.stack.processes import StackError

    config = StackConfig.from_environment(
        backend=settings.stack_backend, ports={"auth": 0, "users": 0, "webhook": 0}, log_dir=Path("logs")
    )
    try:
        stack = resources.enter_context(reference_stack(config))
    except StackError as exc:
        raise TargetError(f"the reference stack did not start: {exc}") from exc
    return Target(
        kind="reference",
        description=f"reference stack ({stack.backend} backend: {stack.backend_reason})",
        base_urls=stack.base_urls,
        valid_mid=settings.webhook_valid_mid,
        jwt_secret=stack.jwt_secret,
        webhook_log_file=str(stack.log_paths["webhook"]),
    )


def _external_target(settings: HarnessSettings) -> Target:
    check_reachable(settings.base_urls())
    return Target(
        kind="external",
        description="external deployment",
        base_urls=settings.base_urls(),
        valid_mid=settings.webhook_valid_mid,
        jwt_secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        webhook_log_file=settings.webhook_log_file,
    )


class HarnessPlugin:
    """Holds the target for the whole session; under xdist the controller opens it once for every worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = settings_from(config)
        self.resources = ExitStack()
        self._target: Target | None = None

    def target(self) -> Target:
        if self._target is None:
            shared = getattr(self.config, "workerinput", {}).get(_TARGET_KEY)
            if shared:
                self._target = Target.from_json(shared)
            elif self.settings.target == "reference":
                self._target = _reference_target(self.settings, self.resources)
            else:
                self._target = _external_target(self.settings)
        return self._target

    def target_or_exit(self) -> Target:
        try:
            return self.target()
        except TargetError as exc:
            pytest.exit(f"checklist target unusable: {exc}", returncode=3)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # xdist controller: hand the target opened in pytest_configure to every worker.
        if self._target is not None:
            node.workerinput[_TARGET_KEY] = self._target.to_json()

    def pytest_report_header(self, config: pytest.Config) -> str:
        return f"checklist target: {self.settings.target}"

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.resources.close()


def _runs_checklist(config: pytest.Config) -> bool:
    return any("test_checklist" in arg or "features" in arg for arg in config.args)


def pytest_configure(config: pytest.Config) -> None:
    for row_id in sorted(row_ids()):
        config.addinivalue_line("markers", f"{row_id}: checklist row {row_id}")
    for tag in SERVICE_TAGS:
        config.addinivalue_line("markers", f"{tag}: checklist rows of the {tag} service(s)")
    config.addinivalue_line("markers", "extra: cases beyond the checklist")
    plugin = HarnessPlugin(config)
    config.pluginmanager.register(plugin, "checklist-harness")
    # Open the target before collection: a wrong URL ends the run here, in one line, not in 38 errors.
    # Under xdist this runs in the controller only, so the reference stack boots once for every worker.
    if _runs_checklist(config) and not config.option.collectonly and not hasattr(config, "workerinput"):
        try:
            plugin.target()
        except TargetError as exc:
            raise pytest.UsageError(f"checklist target unusable: {exc}") from None


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
def case(clients: Clients, target: Target, pytestconfig: pytest.Config) -> Case:
    return Case(clients, target, _plugin(pytestconfig).settings.log_wait_seconds)
