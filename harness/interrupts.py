"""SIGTERM stops a run the way Ctrl-C does, and a second signal cannot cut its cleanup short.

tox answers Ctrl-C with SIGINT and, 0.3 s later, SIGTERM; CI runners cancel with SIGTERM. Python's default for
SIGTERM ends the process at once: no report saying `interrupted`, and the reference stack's data folder left
behind. Here the first SIGINT or SIGTERM raises KeyboardInterrupt (pytest then finishes the run as interrupted)
and any later one is noted and ignored while the run writes its report and stops what it started; the stack's
own stop is bounded by timeouts, so this cannot hang.
"""

import signal
import sys
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptGuard:
    def __init__(self) -> None:
        self.stopping = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            sys.stderr.write(
                f"\n{signal.Signals(signum).name}: the run is stopping; finishing its cleanup first\n"
            )
            return
        self.stopping = True
        raise KeyboardInterrupt

    def install(self) -> None:
        for sig in _SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()
