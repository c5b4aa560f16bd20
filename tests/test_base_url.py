"""One base URL for a deployment behind a gateway (`--base-url`, pytest-base-url's convention): derivation,
per-service overrides, precedence, errors, and a whole run through a gateway on loopback."""

import os
from pathlib import Path
from typing import Any

import pytest

from harness.plan import all_cases
from harness.settings import HarnessSettings, Sources, load_settings
from reference_impl.stack.api import API_PREFIXES, RunningStack
from reference_impl.stack.envfile import env_lines, target_env
from tests.checklist_process import latest_document, on_embedded_stack, output_lines, run_checklist
from tests.fake_deployment import gateway, serve

GATEWAY = "https://staging.example"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No checklist setting in the environment, and an empty working directory (no .env)."""
    for name in list(os.environ):
        if name.endswith("_BASE_URL") or name in ("BASE_URL", "CHECKLIST_TARGET"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_three_urls_are_derived_with_the_checklists_paths(clean_environment: Path) -> None:
    settings = HarnessSettings(base_url=GATEWAY + "/")
    assert settings.target == "external"  # a base URL means a deployment
    assert settings.base_urls() == {
        "auth": f"{GATEWAY}/api/v1/auth",
        "users": f"{GATEWAY}/api/v1/users",
        "webhook": f"{GATEWAY}/webhook",
    }


def test_each_service_url_still_overrides_its_derived_one(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USERS_BASE_URL", "http://users.internal:8002/api/v1/users")
    settings = load_settings(
        {"base_url": GATEWAY, "auth_base_url": "http://auth.internal/api/v1/auth"},
        Sources({"base_url": "--base-url"}),
    )
    assert settings.base_urls() == {
        "auth": "http://auth.internal/api/v1/auth",
        "users": "http://users.internal:8002/api/v1/users",
        "webhook": f"{GATEWAY}/webhook",
    }
    assert settings.url_origin("webhook") == f" (derived from the base URL {GATEWAY})"
    assert settings.url_origin("auth") == ""
    # Neither given: the checklist's own address, which a message about it says, and how to set it.
    assert HarnessSettings(auth_base_url="http://auth.internal/api/v1/auth").url_origin("webhook") == (
        " (the checklist's default: --webhook-url or --base-url sets it)"
    )


def test_option_beats_environment_beats_dotenv_beats_default(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert HarnessSettings().base_url is None and HarnessSettings().target == "reference"
    (clean_environment / ".env").write_text("BASE_URL=http://from-dotenv\n", encoding="utf-8")
    assert HarnessSettings().base_url == "http://from-dotenv"
    monkeypatch.setenv("BASE_URL", "http://from-environment")
    assert HarnessSettings().base_url == "http://from-environment"
    assert HarnessSettings(base_url="http://from-option").base_url == "http://from-option"
    # An explicit target stays: the base URL is then only kept for when the target is external.
    monkeypatch.setenv("CHECKLIST_TARGET", "reference")
    assert HarnessSettings().target == "reference"


@pytest.mark.parametrize("field", ["auth_base_url", "users_base_url", "webhook_base_url"])
def test_a_service_url_alone_makes_the_target_external(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    """Else the run would boot the reference stack and pass, having tested nothing at the URL given."""
    option: dict[str, Any] = {field: "http://127.0.0.1:9/x"}
    assert HarnessSettings(**option).target == "external"
    monkeypatch.setenv(field.upper(), "http://127.0.0.1:9/x")
    assert HarnessSettings().target == "external"
    assert HarnessSettings(target="reference").target == "reference"  # said explicitly: kept


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("staging.example", "the base URL 'staging.example' is not an http(s) URL with a host"),
        ("http://", "the base URL 'http://' is not"),
    ],
)
def test_a_base_url_without_scheme_or_host_is_one_line(tmp_path: Path, given: str, expected: str) -> None:
    # Not named base_url: pytest-base-url, installed for the tests, has a fixture of that name.
    result = run_checklist(tmp_path, "--base-url", given, timeout=120)
    lines = output_lines(result)
    assert result.returncode == 4 and len(lines) == 1, lines
    assert expected in lines[0]


@on_embedded_stack
def test_a_base_url_whose_paths_do_not_serve_the_services_is_one_line(
    stack: RunningStack, tmp_path: Path
) -> None:
    wrong = stack.origins["auth"] + "/gateway"  # a real server, but nothing under these paths
    result = run_checklist(tmp_path, "--base-url", wrong, timeout=120)
    lines = output_lines(result)
    assert result.returncode == 4 and len(lines) == 1, lines
    assert f"does not serve the auth API: POST {wrong}/api/v1/auth/login answered 404" in lines[0]
    assert f"(derived from the base URL {wrong})" in lines[0]


@on_embedded_stack
def test_a_run_with_only_a_base_url_through_a_gateway_passes_every_case(
    stack: RunningStack, tmp_path: Path
) -> None:
    """A gateway on loopback in front of the reference stack; the log sources, the signing secret and the fault
    commands come from an env file (as `up` writes, without its URLs): `--base-url` alone gives the URLs."""
    settings = {
        name: value for name, value in target_env(stack, tmp_path).items() if not name.endswith("_BASE_URL")
    }
    del settings["CHECKLIST_TARGET"]  # the base URL alone makes the run external
    env_file = tmp_path / "gateway.env"
    env_file.write_text("\n".join(env_lines(settings)) + "\n", encoding="utf-8")
    routes = {prefix: stack.origins[service] for service, prefix in API_PREFIXES.items()}
    with serve(gateway(routes)) as front:
        result = run_checklist(tmp_path / "reports", "--base-url", front.url, "--env-file", str(env_file))
    document = latest_document(tmp_path / "reports")
    assert result.returncode == 0, result.stdout[-3000:]
    assert document["run"]["target"]["base_urls"]["users"] == f"{front.url}/api/v1/users"
    assert [case["outcome"] for case in document["cases"]] == ["passed"] * len(all_cases())


@pytest.mark.parametrize("plugin", ["pytest-base-url", "none"])
def test_the_option_is_pytest_base_urls_when_that_plugin_is_installed(tmp_path: Path, plugin: str) -> None:
    """With pytest-base-url loaded, its --base-url is the one read (registered once); without it, the harness's."""
    disable = ["-p", "no:base_url"] if plugin == "none" else []
    result = run_checklist(tmp_path, *disable, "--base-url", "http://127.0.0.1:9", timeout=120)
    lines = output_lines(result)
    assert result.returncode == 4 and len(lines) == 1, lines
    assert "auth service does not answer at http://127.0.0.1:9/api/v1/auth" in lines[0]
    assert "(derived from the base URL http://127.0.0.1:9)" in lines[0]


def test_urls_set_for_a_run_on_the_reference_stack_are_named_as_not_used(tmp_path: Path) -> None:
    """`--target reference` said explicitly keeps the URLs set (a .env may hold a deployment's settings), and the
    run says that they were not used."""
    result = run_checklist(
        tmp_path,
        "-m",
        "AUTH-REG-01",
        "--target",
        "reference",
        quiet=False,
        USERS_BASE_URL="http://127.0.0.1:9/api/v1/users",
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (
        "note: the target is the reference stack (from option --target), which serves its own URLs:"
        " USERS_BASE_URL set and not used"
    ) in result.stdout, result.stdout[-2000:]
