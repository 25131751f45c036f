"""The Vagrantfile reads the same topology and passes ``vagrant validate``."""

import os
import shutil
import subprocess

import pytest

from releasetrain.lab import topology
from releasetrain.loader import tree_root

VAGRANT = shutil.which("vagrant")
pytestmark = pytest.mark.skipif(not VAGRANT, reason="vagrant is not installed (Debian package vagrant)")


def has_libvirt_plugin(env):
    plugins = subprocess.run([VAGRANT, "plugin", "list"], capture_output=True, text=True, env=env, check=False)
    return "vagrant-libvirt" in plugins.stdout


def validate(tmp_path, ignore_provider=False, **settings):
    env = {
        **os.environ,
        "VAGRANT_CWD": tree_root(),
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotfile"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        **settings,
    }
    argv = [VAGRANT, "validate"]
    if not ignore_provider and has_libvirt_plugin(env):
        env["VAGRANT_DEFAULT_PROVIDER"] = "libvirt"  # validates the libvirt provider block too
    else:
        argv.append("--ignore-provider")
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.parametrize("box", ["ubuntu2204", "ubuntu2404", "debian12"])
def test_vagrantfile_validates(tmp_path, box):
    result = validate(tmp_path, RELEASETRAIN_BOX=box)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Vagrantfile validated successfully" in result.stdout


def test_vagrantfile_follows_the_topology(tmp_path):
    path = tmp_path / "three.yml"
    path.write_text(
        "name: three\n"
        "networks: [{name: mgmt, cidr: 10.231.50.0/24}, {name: tenant, cidr: 10.231.51.0/24}]\n"
        "master: {address: 10.231.50.10}\n"
        "nodes:\n"
        "  - {name: ctl09, roles: [controller], addresses: {mgmt: 10.231.50.11, tenant: 10.231.51.11}}\n"
        "  - {name: cmp09, roles: [compute, storage], addresses: {mgmt: 10.231.50.31}}\n"
    )
    topology.load(str(path))  # the lab accepts it too
    # --ignore-provider prints one "==> machine:" line per machine
    result = validate(tmp_path, ignore_provider=True, RELEASETRAIN_TOPOLOGY=str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    machines = {line[4:].split(":")[0] for line in result.stdout.splitlines() if line.startswith("==> ")}
    assert machines == {"salt", "ctl09", "cmp09"}


def test_default_topology_machines(tmp_path):
    result = validate(tmp_path, ignore_provider=True)
    assert result.returncode == 0, result.stdout + result.stderr
    machines = {line[4:].split(":")[0] for line in result.stdout.splitlines() if line.startswith("==> ")}
    assert machines == {"salt"} | {node.name for node in topology.load().nodes}


def provisioners(topology_path=None):
    """Each machine's provisioner and box, as the Vagrantfile defines them (read by a recording stand-in)."""
    import json

    stub = os.path.join(os.path.dirname(__file__), "vagrant_provision.rb")
    env = {**os.environ, **({"RELEASETRAIN_TOPOLOGY": topology_path} if topology_path else {})}
    out = subprocess.run(
        ["ruby", stub, os.path.join(tree_root(), "Vagrantfile")],
        capture_output=True, text=True, check=True, timeout=60, cwd=tree_root(), env=env,
    )
    return {item["machine"]: item for item in json.loads(out.stdout)}


@pytest.mark.skipif(not shutil.which("ruby"), reason="ruby is not installed")
def test_a_distribution_picks_the_nodes_box(tmp_path):
    import yaml

    data = yaml.safe_load(open(topology.default_path(), encoding="utf-8"))
    default = provisioners()
    assert {machine: item["box"] for machine, item in default.items()} == {
        "salt": None, **{node["name"]: "generic/ubuntu2204" for node in data["nodes"]}}  # RELEASETRAIN_BOX's
    data["distribution"] = "bookworm"
    data["nodes"][3]["distribution"] = "trixie"
    path = tmp_path / "mixed.yml"
    path.write_text(yaml.safe_dump(data))
    boxes = {machine: item["box"] for machine, item in provisioners(str(path)).items()}
    assert boxes == {"salt": None, "ctl01": "debian/bookworm64", "net01": "debian/bookworm64",
                     "cmp01": "debian/bookworm64", "cmp02": "debian/trixie64"}
    assert validate(tmp_path, ignore_provider=True, RELEASETRAIN_TOPOLOGY=str(path)).returncode == 0


@pytest.mark.skipif(not shutil.which("ruby"), reason="ruby is not installed")
def test_provisioning_scripts_are_valid_shell(tmp_path):
    """Each machine's provisioner is valid sh; the master serves the release store's trees."""
    import yaml

    scripts = provisioners()
    assert set(scripts) == {"salt"} | {node.name for node in topology.load().nodes}
    for machine, item in scripts.items():
        assert item["args"] == ["3008.4"]
        check = subprocess.run(["sh", "-n"], input=item["script"], capture_output=True, text=True, check=False)
        assert check.returncode == 0, f"{machine}: {check.stderr}"
    master = scripts["salt"]["script"]
    config = yaml.safe_load(master.split("releasetrain.conf <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0])
    assert config["file_roots"]["production"] == ["/srv/releasetrain/envs/production"]
    assert config["interface"] == "0.0.0.0"
    minion = scripts["cmp02"]["script"]
    minion_config = yaml.safe_load(minion.split("releasetrain.conf <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0])
    assert minion_config == {
        "id": "cmp02",
        "master": "10.231.10.1",
        "grains": {"roles": ["compute"], "releasetrain_lab": "region-minimal"},
    }
