"""Booting the embedded backend: ports that cannot collide, a data process that dies fails the boot at once, and
the initdb template every boot copies is published whole even when first boots race."""

import os
import socket
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from reference_impl.stack.api import RunningStack, StackConfig, _scratch_dir, service_env, start_service
from reference_impl.stack.backends import DataServices, EmbeddedBackend
from reference_impl.stack.processes import StackError, free_port, wait_until


def test_free_port_never_hands_out_one_port_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_free_ports_are_below_the_range_outgoing_connections_take_theirs_from() -> None:
    """Else a client's connection could take a chosen port before its server binds it."""
    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low > 21_000, "this machine's ephemeral range leaves no room below it"
    assert all(20_000 <= free_port() < low for _ in range(50))


def test_a_data_process_that_dies_during_boot_is_reported_at_once(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "work", tmp_path / "logs")
    (tmp_path / "work").mkdir()
    (tmp_path / "logs").mkdir()
    # Someone else holds Redis's port: redis-server cannot bind and exits.
    with socket.socket() as squatter, ExitStack() as resources:
        squatter.bind(("127.0.0.1", backend.redis_port))
        squatter.listen()
        backend.prepare(resources)
        backend.start(resources)

        def dead() -> bool:
            try:
                backend.check()
            except StackError as exc:
                assert "redis exited during boot" in str(exc)
                assert "Address already in use" in str(exc)
                return True
            return False

        # Well before the 60 s boot deadline the stack would otherwise have waited out.
        wait_until(dead, timeout=20, what="the boot check to notice redis exited")


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Where a stack keeps its throwaway data (memory, where there is some): the template is staged there."""
    with tempfile.TemporaryDirectory(dir=_scratch_dir()) as folder:
        yield Path(folder)


def _template_boot(scratch: Path, name: str) -> Path:
    """The initdb template one embedded backend's PostgreSQL starts from (made if missing)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    backend = EmbeddedBackend(scratch / name, scratch / f"{name}-logs")
    backend.workdir.mkdir()
    user = backend._prepare_permissions(POSTGRES_BIN_PATH) if os.geteuid() == 0 else None
    return backend._initialised_template(POSTGRES_BIN_PATH, user)


def test_first_boots_at_once_publish_one_whole_template(
    scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stacks booting for the first time on one machine: both get the one template, whole, and nothing half
    copied is left in the cache (on disk, while the staging is in memory)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with ThreadPoolExecutor(2) as pool:
        templates = list(pool.map(lambda name: _template_boot(scratch, name), ["one", "two"]))
    assert templates[0] == templates[1] and (templates[0] / "PG_VERSION").exists()
    assert [path.name for path in templates[0].parent.iterdir()] == [templates[0].name]


def test_a_half_copied_template_is_replaced(
    scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template = _template_boot(scratch, "first")
    (template / "PG_VERSION").unlink()  # what an interrupted copy leaves
    assert _template_boot(scratch, "second") == template
    assert (template / "PG_VERSION").exists()
    assert [path.name for path in template.parent.iterdir()] == [template.name]


def test_a_service_that_cannot_bind_says_why(stack: RunningStack, tmp_path: Path) -> None:
    """A port taken between its choice and the service's bind: the service has configured its logging by then,
    so the reason is in its log, not its output, and the boot's error must still carry it."""
    config = StackConfig(log_dir=tmp_path)
    data = DataServices(stack.database_url, stack.redis_url)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        service = start_service(
            "webhook", squatter.getsockname()[1], config, service_env(config, data, "x" * 40)
        )
        try:
            wait_until(lambda: not service.running(), timeout=30, what="the service to give up")
            with pytest.raises(
                StackError, match=r"webhook service exited during boot \(code 3\): .*address already in use"
            ):
                service.check_running()
        finally:
            service.stop()
