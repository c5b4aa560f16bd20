"""Test support, loaded into a checklist run with `-p tests.secret_collector`: at the end of the run (in each
xdist worker too) it writes every secret the harness registered to $SECRET_COLLECTOR_DIR, so a test can search
the run's output for them."""

import os
from pathlib import Path

import pytest


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get("SECRET_COLLECTOR_DIR")
    plugin = session.config.pluginmanager.get_plugin("checklist-harness")
    if not folder or plugin is None:
        return
    # Not $PYTEST_XDIST_WORKER: a run started from inside an xdist worker inherits it in its controller, which
    # would then overwrite that worker's file with its own (empty) set.
    workerinput = getattr(session.config, "workerinput", {})
    worker = workerinput.get("workerid", "main")
    secrets = sorted(plugin.masker.registered_secrets())
    Path(folder, f"secrets-{worker}.txt").write_text("\n".join(secrets), encoding="utf-8")


def collected(folder: Path) -> frozenset[str]:
    """The secrets the run's processes wrote into `folder`."""
    return frozenset(
        line
        for path in folder.glob("secrets-*.txt")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    )
