"""The ``releasetrain`` section of the salt-master configuration."""

import collections.abc
import os
import re
from dataclasses import dataclass, field

from releasetrain.errors import ReleaseTrainError

ENV_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")  # \Z: no trailing newline
KEY_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
MAX_SECONDS = 1e9  # about 31 years: any longer wait is a typo (and NaN or inf is refused)

DEFAULTS = {
    "store": "/srv/releasetrain",
    "cache": "/var/cache/releasetrain",
    "environments": ["test", "staging", "production"],
    "volatile_environments": ["volatile"],
    "lock_timeout": 600,
    "keep_trees": 3,
}


@dataclass(frozen=True)
class Config:
    store: str
    cache: str
    environments: tuple = field(default_factory=tuple)
    volatile_environments: tuple = field(default_factory=tuple)
    lock_timeout: float = 600
    keep_trees: int = 3
    raw: dict = field(default_factory=dict, compare=False)

    def env_tree(self, env):
        """The path a saltenv's ``file_roots`` lists for environment ``env``."""
        return os.path.join(self.store, "envs", env)

    @property
    def all_environments(self):
        """The promotion chain, then the volatile environments candidates are tested in."""
        return self.environments + self.volatile_environments

    def check_env(self, env):
        if env not in self.all_environments:
            volatile = f"; volatile: {', '.join(self.volatile_environments)}" if self.volatile_environments else ""
            raise ReleaseTrainError(
                f"unknown environment {env!r}; the chain is {' -> '.join(self.environments)}{volatile}"
            )
        return env

    def check_chain_env(self, env):
        if env in self.volatile_environments:
            raise ReleaseTrainError(f"{env!r} is a volatile environment; publish to it, nothing is promoted there")
        return self.check_env(env)

# Sections other modules read and check themselves (releasetrain.gerrit.events, .gerrit.stream,
# .pipeline, .lab.settings): allowed here, left to them.
SECTIONS_READ_ELSEWHERE = ("gerrit", "pipeline", "lab")


def load(opts):
    """Build a Config from master opts (``opts["releasetrain"]``), with defaults.

    A key with the wrong type or value, or one nothing reads, is a ReleaseTrainError whose
    line names ``releasetrain:<key>`` and what it must be.
    """
    section = _section(opts)
    environments = _env_names(section["environments"], "environments", "[test, staging, production]")
    if not environments:
        raise ReleaseTrainError("releasetrain:environments must list at least one environment")
    volatile = _env_names(section["volatile_environments"] or [], "volatile_environments", "[volatile]")
    if len(set(environments + volatile)) != len(environments) + len(volatile):
        raise ReleaseTrainError("releasetrain:environments and volatile_environments name an environment twice")
    return Config(
        store=_folder(section, "store"),
        cache=_folder(section, "cache"),
        environments=tuple(environments),
        volatile_environments=tuple(volatile),
        lock_timeout=_seconds(section, "lock_timeout"),
        keep_trees=_count(section, "keep_trees"),
        raw=section,
    )


def _section(opts):
    given = (opts or {}).get("releasetrain")
    if given is None:
        given = {}
    if not isinstance(given, collections.abc.Mapping):
        raise ReleaseTrainError("releasetrain must be a mapping of settings, e.g. {store: /srv/releasetrain}")
    unknown = sorted(_shown(key) for key in given if key not in DEFAULTS and key not in SECTIONS_READ_ELSEWHERE)
    if unknown:
        known = ", ".join([*DEFAULTS, *SECTIONS_READ_ELSEWHERE])
        raise ReleaseTrainError(f"releasetrain:{unknown[0]} is not a setting (known: {known})")
    return {**DEFAULTS, **given}


def _shown(key):
    """A key as the operator wrote it, or its repr when it is not a plain word (a number, a newline...)."""
    return key if isinstance(key, str) and KEY_RE.fullmatch(key) else repr(key)


def _folder(section, key):
    value = section[key]
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ReleaseTrainError(f"releasetrain:{key} must be a folder path, e.g. {DEFAULTS[key]}")
    return os.path.abspath(os.path.expanduser(value))


def _seconds(section, key):
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
        raise ReleaseTrainError(
            f"releasetrain:{key} must be a number of seconds from 0 to {MAX_SECONDS:g}, e.g. {DEFAULTS[key]}"
        )
    return float(value)


def _count(section, key):
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ReleaseTrainError(f"releasetrain:{key} must be a whole number, 1 or more, e.g. {DEFAULTS[key]}")
    return value


def _env_names(value, key, example):
    if isinstance(value, str) or not isinstance(value, collections.abc.Sequence) or not all(
        isinstance(env, str) and ENV_RE.fullmatch(env) for env in value
    ):
        raise ReleaseTrainError(f"releasetrain:{key} must be a list of environment names, e.g. {example}")
    return list(value)
