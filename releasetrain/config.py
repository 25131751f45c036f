"""The ``releasetrain`` section of the salt-master configuration."""

import os
from dataclasses import dataclass, field

from releasetrain.errors import ReleaseTrainError

DEFAULTS = {
    "store": "/srv/releasetrain",
    "cache": "/var/cache/releasetrain",
    "environments": ["test", "staging", "production"],
    "lock_timeout": 600,
    "keep_trees": 3,
}


@dataclass(frozen=True)
class Config:
    store: str
    cache: str
    environments: tuple = field(default_factory=tuple)
    lock_timeout: float = 600
    keep_trees: int = 3
    raw: dict = field(default_factory=dict, compare=False)

    def env_tree(self, env):
        """The path a saltenv's ``file_roots`` lists for environment ``env``."""
        return os.path.join(self.store, "envs", env)

    def check_env(self, env):
        if env not in self.environments:
            raise ReleaseTrainError(
                f"unknown environment {env!r}; the chain is {' -> '.join(self.environments)}"
            )
        return env


def load(opts):
    """Build a Config from master opts (``opts["releasetrain"]``), with defaults."""
    section = dict(DEFAULTS)
    section.update((opts or {}).get("releasetrain") or {})
    environments = section["environments"]
    if isinstance(environments, str) or not environments or not all(
        isinstance(env, str) and env and "/" not in env and not env.startswith(".")
        for env in environments
    ):
        raise ReleaseTrainError(
            "releasetrain:environments must be a list of environment names, e.g. [test, staging, production]"
        )
    if len(set(environments)) != len(environments):
        raise ReleaseTrainError("releasetrain:environments lists an environment twice")
    return Config(
        store=os.path.abspath(os.path.expanduser(section["store"])),
        cache=os.path.abspath(os.path.expanduser(section["cache"])),
        environments=tuple(environments),
        lock_timeout=float(section["lock_timeout"]),
        keep_trees=int(section["keep_trees"]),
        raw=section,
    )
