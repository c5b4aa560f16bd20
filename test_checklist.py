"""Binds every feature file to pytest: one test per checklist scenario (and per example of an outline)."""

from pytest_bdd import scenarios

scenarios("features")
