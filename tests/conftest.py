"""Shared pytest configuration for the three layers (unit, functional, integration)."""

pytest_plugins = ["tests.support.salt_master"]
