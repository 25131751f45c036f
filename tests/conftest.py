"""Shared pytest configuration for the three layers (unit, functional, integration)."""

import logging

pytest_plugins = ["tests.support.salt_master", "tests.support.fixtures", "tests.support.lab"]

# Salt's deferred log handler flushes records forwarded by salt-factories into
# pytest's capture stream after pytest has closed it, printing "Logging error"
# tracebacks at exit. The records are already in the test logs; drop the noise.
logging.raiseExceptions = False
