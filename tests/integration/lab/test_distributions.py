"""A lab of two Debian releases: a bookworm node and a trixie node, each on its own base image,
both with the same minion; and (opt-in) a node's distribution upgrade, run by its own minion."""

import time

import pytest
import yaml

from releasetrain.lab import topology

pytestmark = [pytest.mark.lab, pytest.mark.slow]

UPGRADE = (
    "set -e; export DEBIAN_FRONTEND=noninteractive; "
    "sed -i 's/bookworm/trixie/g' /etc/apt/sources.list; "
    "apt-get -q update; "
    "apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold full-upgrade; "
    # whatever of bookworm's python3.11 the upgrade kept goes too: the minion must not need it
    "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' 'python3.11*' 'libpython3.11*' 2>/dev/null "
    "| awk '/^ii/ {print $2}' | xargs -r apt-get -q -y purge"
)


@pytest.fixture(scope="module")
def lab_topology_path(tmp_path_factory):
    """The default region's controller on bookworm and its first compute on trixie (two nodes:
    the default name, so that it waits for any other session's lab of that name)."""
    data = yaml.safe_load(open(topology.default_path(), encoding="utf-8"))
    data["nodes"] = [node for node in data["nodes"] if node["name"] in ("ctl01", "cmp01")]
    data["distribution"] = "bookworm"
    data["nodes"][1]["distribution"] = "trixie"
    path = tmp_path_factory.mktemp("mixed") / "mixed.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def grain(lab_region, name):
    return lab_region.salt("*", "grains.get", name)


def test_each_node_boots_its_own_distribution(lab_region):
    assert lab_region.salt("*", "test.ping") == {"ctl01": True, "cmp01": True}
    assert grain(lab_region, "osfinger") == {"ctl01": "Debian-12", "cmp01": "Debian-13"}
    assert grain(lab_region, "oscodename") == {"ctl01": "bookworm", "cmp01": "trixie"}
    status = lab_region.salt_run_cli.run("lab.status").data
    assert {name: node["distribution"] for name, node in status["nodes"].items()} == {
        "ctl01": "bookworm", "cmp01": "trixie"}
    systemd = lab_region.run_in("cmp01", "systemctl", "--version").stdout.split()[1]
    assert int(systemd) >= 257


def test_the_same_minion_runs_on_both(lab_region):
    """The minion's Python is its own (/opt/salt), not the node's: 3.11 on trixie too, whose python3 is 3.13."""
    ours = lab_region.salt("*", "cmd.run", "/opt/salt/bin/python3 -c 'import sys; print(sys.prefix, sys.version_info[:2])'")
    assert ours == {"ctl01": "/opt/salt (3, 11)", "cmp01": "/opt/salt (3, 11)"}
    assert lab_region.salt("*", "grains.get", "saltversion") == {"ctl01": "3008.4", "cmp01": "3008.4"}
    node_python = lab_region.run_in("cmp01", "python3", "--version").stdout
    assert node_python.startswith("Python 3.13"), node_python


def test_the_trixie_node_installs_epoxy_through_the_lab_proxy(lab_region):
    # a single minion's target: the salt CLI fixture gives that minion's return itself
    result = lab_region.salt("cmp01", "cmd.run_all", "apt-get -q update && apt-cache policy nova-compute", timeout=300)
    assert result["retcode"] == 0, result
    candidate = next(line.split()[1] for line in result["stdout"].splitlines() if "Candidate:" in line)
    assert candidate.startswith("2:31."), result["stdout"]  # nova 31: OpenStack 2025.1 Epoxy


@pytest.mark.region
def test_a_node_upgraded_to_trixie_keeps_its_minion(lab_region):
    """bookworm -> trixie on ctl01, run by ctl01's own minion: the node's python3.11 goes away, the minion stays."""
    ret = lab_region.salt("ctl01", "cmd.run_all", UPGRADE, timeout=1800)  # one minion: its return itself
    assert ret["retcode"] == 0, ret["stderr"][-2000:]
    assert lab_region.salt("ctl01", "saltutil.refresh_grains") is True
    assert lab_region.salt("ctl01", "grains.get", "osfinger") == "Debian-13"
    assert lab_region.salt("ctl01", "file.file_exists", "/usr/bin/python3.11") is False
    restarted = lab_region.run_in("ctl01", "systemctl", "restart", "salt-minion", check=False)
    assert restarted.returncode == 0, restarted.stderr
    deadline = time.monotonic() + 120
    while lab_region.salt("ctl01", "test.ping", timeout=10) is not True:
        assert time.monotonic() < deadline, "the restarted minion did not answer within 120 s"
        time.sleep(3)
