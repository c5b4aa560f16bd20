"""Fault injection: breaking a deployment's dependencies on purpose, and restoring them."""
