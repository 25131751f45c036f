"""kitchen/kitchen.yml read as Test Kitchen reads it: Ruby's ERB, then YAML."""

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from releasetrain.loader import tree_root

KITCHEN_DIR = os.path.join(tree_root(), "kitchen")
KITCHEN_YML = os.path.join(KITCHEN_DIR, "kitchen.yml")
# What Test Kitchen's loader does: ERB without trim mode, then YAML with aliases.
RUBY_LOADER = 'puts JSON.dump(YAML.safe_load(ERB.new(File.read(ARGV[0])).result, aliases: true))'


def kitchen_config():
    ruby = shutil.which("ruby")
    if ruby is None:
        pytest.fail("ruby is missing: ./run installs it (scripts/debian-packages.txt)")
    proc = subprocess.run(
        [ruby, "-rerb", "-ryaml", "-rjson", "-e", RUBY_LOADER, KITCHEN_YML],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def kitchen():
    return kitchen_config()


def stage_roles():
    with open(os.path.join(tree_root(), "states", "openstack", "stages.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["roles"]


def pinned_salt():
    with open(os.path.join(tree_root(), "setup.py"), encoding="utf-8") as handle:
        return re.search(r'"salt==([0-9.]+)"', handle.read()).group(1)


def test_provisioner_is_salt_solo_with_the_projects_salt_from_pip(kitchen):
    provisioner = kitchen["provisioner"]
    assert provisioner["name"] == "salt_solo"
    assert provisioner["salt_install"] == "pip"
    assert provisioner["salt_version"] == pinned_salt()
    assert provisioner["state_top"] == {"base": {"*": ["openstack.roles"]}}


def test_one_suite_per_role_with_its_roles_grain(kitchen):
    suites = {suite["name"]: suite for suite in kitchen["suites"]}
    assert sorted(suites) == sorted(stage_roles())
    for role, suite in suites.items():
        assert suite["provisioner"]["grains"] == {"roles": [role]}
        node = suite["provisioner"]["salt_minion_id"]
        assert node in kitchen["provisioner"]["pillars"]["openstack_region.sls"]["openstack"]["nodes"]


def test_debian_and_ubuntu_platforms(kitchen):
    assert {platform["name"] for platform in kitchen["platforms"]} == {"debian-12", "ubuntu-22.04", "ubuntu-24.04"}


def test_every_suite_has_testinfra_verifier_files(kitchen):
    assert kitchen["verifier"]["name"] == "shell"
    assert "test/integration/$KITCHEN_SUITE" in kitchen["verifier"]["command"]
    for suite in kitchen["suites"]:
        folder = os.path.join(KITCHEN_DIR, "test", "integration", suite["name"])
        assert [name for name in os.listdir(folder) if re.match(r"test_.*\.py$", name)], folder


def test_referenced_files_exist(kitchen):
    provisioner = kitchen["provisioner"]
    paths = [dep["path"] for dep in provisioner["dependencies"]] + list(provisioner["pillars_from_files"].values())
    for path in paths:
        assert os.path.exists(os.path.join(KITCHEN_DIR, path)), path


def test_secrets_are_made_per_run_not_stored(kitchen):
    """ERB makes the secrets afresh: two reads differ, and every secret is there."""
    again = kitchen_config()
    secrets = kitchen["provisioner"]["pillars"]["openstack_secrets.sls"]["openstack"]["secrets"]
    other = again["provisioner"]["pillars"]["openstack_secrets.sls"]["openstack"]["secrets"]
    assert set(secrets) == set(other)
    assert all(secrets[name] != other[name] for name in secrets)
    for value in secrets.values():
        assert value and (all(len(key) == 44 for key in value) if isinstance(value, list) else len(value) == 32)
