"""A real ``salt-call --local`` that renders the openstack formula as a given OS.

Grains from the minion configuration override the detected ones, so one
Debian machine renders the formula as Debian 12 and 13, Ubuntu 22.04 and 24.04.
The pillar is the committed lab region and test environment plus secrets
made for the test (``releasetrain.secrets.make_secrets``).
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from releasetrain.loader import tree_path
from releasetrain.secrets import make_secrets

SALT_CALL = os.path.join(os.path.dirname(sys.executable), "salt-call")

PLATFORMS = {
    "debian-12": {"os": "Debian", "os_family": "Debian", "osfinger": "Debian-12",
                  "osrelease": "12", "oscodename": "bookworm"},
    "debian-13": {"os": "Debian", "os_family": "Debian", "osfinger": "Debian-13",
                  "osrelease": "13", "oscodename": "trixie"},
    "ubuntu-22.04": {"os": "Ubuntu", "os_family": "Debian", "osfinger": "Ubuntu-22.04",
                     "osrelease": "22.04", "oscodename": "jammy"},
    "ubuntu-24.04": {"os": "Ubuntu", "os_family": "Debian", "osfinger": "Ubuntu-24.04",
                     "osrelease": "24.04", "oscodename": "noble"},
}


def stage_sls():
    """The SLS of every deploy stage, in order (states/openstack/stages.yaml)."""
    with open(os.path.join(tree_path("states"), "openstack", "stages.yaml"), encoding="utf-8") as handle:
        return [stage["sls"] for stage in yaml.safe_load(handle)["stages"]]


def formula_sls():
    """Every SLS of the formula, named from its file (``init.sls`` names its folder)."""
    root = os.path.join(tree_path("states"), "openstack")
    names = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".sls"):
                parts = os.path.relpath(os.path.join(folder, name[:-4]), tree_path("states")).split(os.sep)
                names.append(".".join(parts[:-1] if parts[-1] == "init" else parts))
    return sorted(names)


def id_scheme_error(state_id, sls, module, function):
    """Why ``state_id`` breaks template-formula's scheme, ``<sls path>-<module>-<function>[-<qualifier>]``
    with the SLS path of the file the state is in (``openstack.keystone.package`` gives
    ``openstack-keystone-package-pkg-installed``); None when it follows it."""
    expected = f"{sls.replace('.', '-')}-{module}-{function}".replace("_", "-")
    if state_id == expected or state_id.startswith(expected + "-"):
        return None
    return f"{state_id} (in {sls}) should read {expected}[-<qualifier>]"


def drop_key(data, path):
    """Remove ``a:b:c`` from nested ``data``."""
    *parents, last = path.split(":")
    for part in parents:
        data = data[part]
    del data[last]


class FormulaMinion:
    """One masterless minion configuration: its grains, pillar and a ``salt-call``."""

    def __init__(self, root, platform, minion_id="ctl01", roles=("controller",), drop=(), extra=None):
        self.root = root
        self.secrets = make_secrets()
        pillar_dir = root / "pillar"
        (pillar_dir / "test").mkdir(parents=True)
        secrets = {"openstack": {"secrets": self.secrets}}
        with open(os.path.join(tree_path("pillar"), "openstack", "region", "lab.sls"), encoding="utf-8") as handle:
            region = yaml.safe_load(handle)
        for path in drop:
            drop_key(secrets if path.startswith("openstack:secrets") else region, path)
        (pillar_dir / "test" / "secrets.sls").write_text(yaml.safe_dump(secrets))
        (pillar_dir / "test" / "region.sls").write_text(yaml.safe_dump(region))
        (pillar_dir / "test" / "extra.sls").write_text(yaml.safe_dump({"openstack": extra or {}}))
        (pillar_dir / "top.sls").write_text(
            "base:\n  '*':\n    - test.region\n    - openstack.environment.test\n    - test.secrets\n"
            "    - test.extra\n"
        )
        config = {
            "id": minion_id,
            "root_dir": str(root / "root"),
            "file_client": "local",
            "file_roots": {"base": [tree_path("states")]},
            "pillar_roots": {"base": [str(pillar_dir), tree_path("pillar")]},
            "grains": {**PLATFORMS[platform], "roles": list(roles)},
            "log_level_logfile": "warning",
        }
        (root / "conf").mkdir()
        (root / "conf" / "minion").write_text(yaml.safe_dump(config))

    def call(self, *args):
        """``salt-call --local ARGS --out=json``: (retcode, the return data)."""
        proc = subprocess.run(
            [SALT_CALL, "--local", f"--config-dir={self.root / 'conf'}", "--out=json", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )
        try:
            data = json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            raise AssertionError(f"salt-call {args} printed no JSON: {proc.stdout}{proc.stderr}")
        return proc.returncode, data

    def show_sls(self, *names):
        """The rendered states of ``names``; fails the test on render errors."""
        retcode, data = self.call("state.show_sls", ",".join(names))
        assert retcode == 0 and isinstance(data, dict), "\n".join(data if isinstance(data, list) else [str(data)])
        return data


@pytest.fixture
def formula_minion(tmp_path):
    """Build a :class:`FormulaMinion`: ``formula_minion("ubuntu-24.04", roles=[...])``."""
    count = iter(range(100))

    def _make(platform, **kwargs):
        root = tmp_path / f"minion-{next(count)}"
        root.mkdir()
        return FormulaMinion(root, platform, **kwargs)

    return _make


def state_args(state):
    """The arguments of one rendered state as a dict (``name``, ``pkgs``, ...)."""
    module = next(key for key in state if not key.startswith("__"))
    return {key: value for item in state[module] if isinstance(item, dict) for key, value in item.items()}


def by_function(states, function):
    """The states (id -> args) of ``module.function``, e.g. ``service.running``."""
    module, name = function.split(".")
    return {
        state_id: state_args(state)
        for state_id, state in states.items()
        if module in state and name in state[module]
    }
