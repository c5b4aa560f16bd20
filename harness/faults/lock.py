"""One lock across xdist workers: a case that breaks something takes it alone, every other case shares it.

A fault (a cut database, a broken function) would fail whatever else runs meanwhile, so fault cases wait for
the cases in flight and hold everything else off for their short window."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def case_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
