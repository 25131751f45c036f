"""The ``releasetrain: {lab: {...}}`` section of the salt-master configuration.

Keys (all optional):

``state_dir`` (``/var/lib/releasetrain/lab``)
    What the running lab made: node roots and overlay layers, keys, pid files,
    logs and ``state.json``.  ``lab.down`` reads it to clean up, also after a
    crash, and removes it.
``cache_dir`` (``/var/cache/releasetrain/lab``)
    The cached base image (debootstrap + Salt) and apt-cacher-ng's package
    cache; kept across labs so a warm ``lab.up`` downloads nothing.
``mirror`` (the host's own Debian mirror, read from ``/etc/apt/sources.list*``)
    The Debian archive for debootstrap and for the nodes' apt sources.
``security_mirror`` (the host's Debian security archive, or ``http://deb.debian.org/debian-security``)
    The nodes' source of ``<suite>-security``: most OpenStack packages have
    two versions in bookworm, the point release and the security update.
``suite`` (``bookworm``)
    The Debian release of the nodes whose topology names none (a topology's
    ``distribution``, or a node's, wins); one of ``topology.KNOWN_DISTRIBUTIONS``.
``proxy_port`` (``3148``)
    apt-cacher-ng's port on the master's mgmt address (not 3142, so a host
    apt-cacher-ng service does not collide).
``boot_timeout`` (``180``)
    Seconds ``lab.up`` waits for every minion to answer ``test.ping``.
``salt_version`` (``3008.4``)
    The Salt release installed into the base image.
"""

import os
from dataclasses import dataclass

from releasetrain.lab import hostapt
from releasetrain.lab.topology import KNOWN_DISTRIBUTIONS
from releasetrain.lab.errors import LabError

DEFAULTS = {
    "state_dir": "/var/lib/releasetrain/lab",
    "cache_dir": "/var/cache/releasetrain/lab",
    "mirror": None,
    "security_mirror": None,
    "suite": "bookworm",
    "proxy_port": 3148,
    "boot_timeout": 180,
    "salt_version": "3008.4",
}


@dataclass(frozen=True)
class Settings:
    state_dir: str
    cache_dir: str
    mirror: str
    security_mirror: str
    suite: str
    proxy_port: int
    boot_timeout: float
    salt_version: str


def from_opts(opts):
    """Settings from master ``opts`` (``opts["releasetrain"]["lab"]``), with defaults."""
    section = ((opts or {}).get("releasetrain") or {}).get("lab") or {}
    if not isinstance(section, dict):
        raise LabError("releasetrain:lab must be a mapping, e.g. {state_dir: ..., cache_dir: ...}")
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise LabError(f"releasetrain:lab: unknown key {unknown[0]!r} (known: {', '.join(DEFAULTS)})")
    return make(**section)


def make(**overrides):
    values = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        settings = Settings(
            state_dir=os.path.abspath(values["state_dir"]),
            cache_dir=os.path.abspath(values["cache_dir"]),
            mirror=values["mirror"] or hostapt.debian_mirror(),
            security_mirror=values["security_mirror"] or hostapt.security_mirror(),
            suite=str(values["suite"]),
            proxy_port=int(values["proxy_port"]),
            boot_timeout=float(values["boot_timeout"]),
            salt_version=str(values["salt_version"]),
        )
    except (TypeError, ValueError) as err:
        raise LabError(f"releasetrain:lab: bad value: {err}") from err
    if settings.suite not in KNOWN_DISTRIBUTIONS:
        raise LabError(f"releasetrain:lab:suite: unknown distribution {settings.suite!r} "
                       f"(known: {', '.join(KNOWN_DISTRIBUTIONS)})")
    return settings
