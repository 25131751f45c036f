"""The ``releasetrain`` section of the salt-master configuration."""

import collections.abc
import os
import re
from dataclasses import dataclass, field

from releasetrain.errors import ReleaseTrainError

ENV_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")  # \Z: no trailing newline

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

def load(opts):
    """Build a Config from master opts (``opts["releasetrain"]``), with defaults."""
    section = dict(DEFAULTS)
    section.update((opts or {}).get("releasetrain") or {})
    environments = _env_names(section["environments"], "environments", "[test, staging, production]")
    if not environments:
        raise ReleaseTrainError("releasetrain:environments must list at least one environment")
    volatile = _env_names(section["volatile_environments"] or [], "volatile_environments", "[volatile]")
    if len(set(environments + volatile)) != len(environments) + len(volatile):
        raise ReleaseTrainError("releasetrain:environments and volatile_environments name an environment twice")
    return Config(
        store=os.path.abspath(os.path.expanduser(section["store"])),
        cache=os.path.abspath(os.path.expanduser(section["cache"])),
        environments=tuple(environments),
        volatile_environments=tuple(volatile),
        lock_timeout=float(section["lock_timeout"]),
        keep_trees=int(section["keep_trees"]),
        raw=section,
    )


def _env_names(value, key, example):
    if isinstance(value, str) or not isinstance(value, collections.abc.Sequence) or not all(
        isinstance(env, str) and ENV_RE.fullmatch(env) for env in value
    ):
        raise ReleaseTrainError(f"releasetrain:{key} must be a list of environment names, e.g. {example}")
    return list(value)
