"""Fixtures that give each test a real salt-master configuration of its own.

``salt-run`` needs no running master, so most runner tests only write the
master configuration and call ``salt_run_cli``; tests that need the event bus
or minions start the daemon with ``with master.started():``.
"""

import pytest
from saltfactories.utils import random_string


@pytest.fixture
def rt_paths(tmp_path):
    """Store, cache and a scratch folder for one test."""
    paths = {name: tmp_path / name for name in ("store", "cache", "work")}
    for path in paths.values():
        path.mkdir()
    return paths


@pytest.fixture
def make_master(salt_factories, rt_paths):
    """Build (not start) a salt-master whose ``releasetrain`` config uses ``rt_paths``."""

    def _make(releasetrain=None, **overrides):
        config = {
            "store": str(rt_paths["store"]),
            "cache": str(rt_paths["cache"]),
            "environments": ["test", "staging", "production"],
        }
        config.update(releasetrain or {})
        overrides = {"releasetrain": config, "log_level_logfile": "info", **overrides}
        return salt_factories.salt_master_daemon(random_string("master-"), overrides=overrides)

    return _make


@pytest.fixture
def master(make_master):
    """A master configuration with the default ``releasetrain`` settings (not started)."""
    return make_master()


@pytest.fixture
def salt_run(master):
    """``salt-run`` against ``master``'s configuration."""
    return master.salt_run_cli()
