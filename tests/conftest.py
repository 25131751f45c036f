"""Shared pytest configuration for the three layers (unit, functional, integration)."""

import hashlib
import logging
import os
import pathlib
import sys
import tempfile

import pytest

pytest_plugins = ["tests.support.salt_master", "tests.support.fixtures", "tests.support.lab"]

# Salt's deferred log handler flushes records forwarded by salt-factories into
# pytest's capture stream after pytest has closed it, printing "Logging error"
# tracebacks at exit. The records are already in the test logs; drop the noise.
logging.raiseExceptions = False

REGION_ENV = "RELEASETRAIN_REGION_TESTS"


@pytest.fixture(scope="session")
def salt_factories_default_root_dir():
    """salt-factories' root, one per virtualenv (the plugin's default is the shared temp dir).

    Its CLI scripts (``scripts/cli_salt_master.py``, ...) put the site-packages of the venv that
    first wrote them at the head of ``sys.path``, and are never rewritten: under a shared /tmp the
    daemons of every later checkout would import that first venv's Salt."""
    digest = hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]
    root = pathlib.Path(tempfile.gettempdir(), f"releasetrain-salt-{digest}")
    root.mkdir(exist_ok=True)
    return root


def pytest_addoption(parser):
    parser.addoption(
        "--region",
        action="store_true",
        default=os.environ.get(REGION_ENV) == "1",
        help=f"also run the full OpenStack region tests in the lab (tens of minutes; or {REGION_ENV}=1)",
    )
    parser.addoption(
        "--keep-lab",
        action="store_true",
        help="leave a lab module's region up when its tests end, to look into it (the next lab.down removes it)",
    )


def pytest_collection_modifyitems(config, items):
    """Full-region tests install OpenStack on four lab nodes: opt-in, so the default suite stays short.

    On pytest-xdist's workers (``./run test``), modules with a slow test come first, each in its own
    order: the workers take modules in collection order, so the longest start early, not last."""
    if hasattr(config, "workerinput"):
        slow = {getattr(item, "module", None) for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: getattr(item, "module", None) not in slow)
    if config.getoption("--region"):
        return
    skip = pytest.mark.skip(reason=f"full OpenStack region test: run with `./run test --region` or {REGION_ENV}=1")
    for item in items:
        if item.get_closest_marker("region"):
            item.add_marker(skip)
