"""pytest wiring only: the harness plugin and the step definitions."""

pytest_plugins = [
    "harness.plugin",
    "steps.common",
    "steps.auth",
    "steps.users",
    "steps.webhook",
    "steps.faults",
]
