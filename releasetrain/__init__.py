"""releasetrain: the release train of an OpenStack cloud, run from inside Salt.

The Salt loader modules under ``_runners/``, ``_modules/``, ``_states/`` and
``_engines/`` are thin wrappers over this package, which holds the logic and
is testable without a salt-master.
"""

__version__ = "0.1.0"
