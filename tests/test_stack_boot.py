"""Booting the embedded backend: ports that cannot collide, and a data process that dies fails the boot at once."""

import socket
from contextlib import ExitStack
from pathlib import Path

from reference_impl.stack.backends import EmbeddedBackend
from reference_impl.stack.processes import StackError, free_port, wait_until


def test_free_port_never_hands_out_one_port_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


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
