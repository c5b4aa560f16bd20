"""Harness pieces that need no service: ids, contacts, settings, URL checks, log lookup."""

import uuid
from pathlib import Path

import pytest

from harness.case import normalise_contacts
from harness.data import new_account, nonexistent_id_like, webhook_payload
from harness.logs import find_records
from harness.settings import HarnessSettings
from harness.target import TargetError, check_url


def test_nonexistent_id_keeps_the_form_of_a_real_one() -> None:
    real = str(uuid.uuid4())
    fake = nonexistent_id_like(real)
    assert isinstance(fake, str) and uuid.UUID(fake) and fake != real
    number = nonexistent_id_like(42)
    assert isinstance(number, int) and number > 10**12
    assert str(nonexistent_id_like("user-7")).startswith("user-7-nonexistent-")


def test_contacts_in_either_shape() -> None:
    expected = {"phone": "+7900", "email": "a@b.c"}
    assert normalise_contacts({"phone": "+7900", "email": "a@b.c"}) == expected
    assert (
        normalise_contacts([{"type": "phone", "value": "+7900"}, {"type": "email", "value": "a@b.c"}])
        == expected
    )
    with pytest.raises(AssertionError):
        normalise_contacts("phone=+7900")


def test_generated_data_is_unique() -> None:
    accounts = [new_account() for _ in range(50)]
    for field in ("second_login", "email", "phone"):
        assert len({account[field] for account in accounts}) == 50
    assert len({webhook_payload("m")["Id"] for _ in range(50)}) == 50


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("AUTH_BASE_URL", "USERS_BASE_URL", "CHECKLIST_TARGET"):
        monkeypatch.delenv(name, raising=False)
    for name in ("BASE_URL", "WEBHOOK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert HarnessSettings().base_urls()["auth"] == "http://localhost:8001/api/v1/auth"
    (tmp_path / ".env").write_text(
        "AUTH_BASE_URL=http://from-dotenv/a\nUSERS_BASE_URL=http://from-dotenv/u\n"
    )
    assert HarnessSettings().base_urls()["auth"] == "http://from-dotenv/a"
    monkeypatch.setenv("AUTH_BASE_URL", "http://from-env/a")
    monkeypatch.setenv("CHECKLIST_TARGET", "external")
    settings = HarnessSettings()
    assert (settings.base_urls()["auth"], settings.base_urls()["users"], settings.target) == (
        "http://from-env/a",
        "http://from-dotenv/u",
        "external",
    )
    assert HarnessSettings(auth_base_url="http://from-cli/a").base_urls()["auth"] == "http://from-cli/a"


@pytest.mark.parametrize("url", ["htp:/x", "localhost:8001", "http://", "not a url"])
def test_bad_urls_are_named(url: str) -> None:
    with pytest.raises(TargetError, match="auth base URL"):
        check_url("auth", url)


def test_log_records_are_found_by_request_id(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    log.write_text(
        '{"level": "INFO", "message": "POST /webhook 200", "request_id": "rid-1"}\n'
        "2025-11-24 13:04:08 | WARNING | [rid-2] POST /webhook rejected\n"
    )
    (json_record,) = find_records(log, "rid-1", deadline_seconds=0)
    assert (json_record.level, json_record.message) == ("INFO", "POST /webhook 200")
    assert len(find_records(log, "rid-2", deadline_seconds=0)) == 1
    assert find_records(log, "rid-3", deadline_seconds=0.05) == []
