"""The outcome model every report speaks, and the exceptions steps raise to reach it.

- passed: every check of the row held.
- failed: the row's own call got the wrong answer (or none).
- blocked: a precondition could not be established (a setup call, a fault that could not be injected, a service
  that does not answer); the reason names it, the call and what came back. CI stays red.
- skipped: the target lacks a setting the row needs; the reason names the setting.
- not_run: the run was interrupted before the case.
"""

from typing import Literal

Outcome = Literal["passed", "failed", "blocked", "skipped", "not_run"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "blocked", "skipped", "not_run")
LABELS: dict[Outcome, str] = {
    "passed": "passed",
    "failed": "failed",
    "blocked": "blocked",
    "skipped": "skipped",
    "not_run": "not run",
}
ICONS: dict[Outcome, str] = {"passed": "✅", "failed": "❌", "blocked": "⛔", "skipped": "⏭", "not_run": "⏸"}
# Outcomes that make a run red: the exit code is non-zero and junit.xml carries a failure or an error.
RED: frozenset[Outcome] = frozenset({"failed", "blocked"})


class CheckFailed(AssertionError):
    """A check of the row's own answer did not hold; the message is the whole explanation."""


class Blocked(Exception):
    """A precondition of the row could not be established; the message names it and what came back."""
