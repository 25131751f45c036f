"""``lab.down`` leaves nothing behind, also after an interrupted ``lab.up``."""

import os
import signal
import time

import pytest

from releasetrain.lab import network, region, settings, topology
from releasetrain.lab.errors import LabError

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SMALL = """\
name: lab-down-test
networks:
  - {name: mgmt, cidr: 10.231.110.0/24}
  - {name: tenant, cidr: 10.231.120.0/24}
master: {address: 10.231.110.1}
nodes:
  - {name: ctl01, roles: [controller], addresses: {mgmt: 10.231.110.11, tenant: 10.231.120.11}}
  - {name: net01, roles: [network], addresses: {mgmt: 10.231.110.21, tenant: 10.231.120.21}}
  - {name: cmp01, roles: [compute], addresses: {mgmt: 10.231.110.31, tenant: 10.231.120.31}}
"""


def test_down_after_an_interrupted_up_leaves_nothing(lab_settings, tmp_path):
    """Boot three nodes without waiting for a master, then tear everything down."""
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    topo = topology.load(str(path))
    test_settings = settings.make(
        state_dir=str(tmp_path / "state"), cache_dir=lab_settings.cache_dir, proxy_port=3149
    )
    pki = tmp_path / "pki"
    (pki / "minions").mkdir(parents=True)
    master_opts = {"pki_dir": str(pki), "ret_port": 4506, "interface": "0.0.0.0"}
    try:
        up = region.up(test_settings, master_opts, str(path), wait=False)
        assert set(up["nodes"]) == {"ctl01", "net01", "cmp01"}
        assert all(info["running"] for info in up["nodes"].values())
        assert sorted(os.listdir(pki / "minions")) == ["cmp01", "ctl01", "net01"]
        assert network.leftovers(topo)  # the lab made namespaces and links
        # A crash: nspawn of one node dies hard, leaving the node's systemd orphaned.
        nspawn = up["nodes"]["net01"]["pid"]
        orphans = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and parent(pid) == nspawn]
        assert orphans
        os.kill(nspawn, signal.SIGKILL)
    finally:
        result = region.down(test_settings)
    assert result["removed"] is True
    assert region.leftovers(test_settings, topo) == []
    assert os.listdir(pki / "minions") == []
    assert os.listdir(test_settings.state_dir) == [".lock"]
    mounts = open("/proc/self/mountinfo", encoding="utf-8").read()
    assert test_settings.state_dir not in mounts
    assert region.down(test_settings)["removed"] is False  # twice is fine
    assert not [pid for pid in orphans if alive(pid)]


def alive(pid, wait=5.0):
    """Whether ``pid`` still runs (a killed process may stay a zombie until reaped)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except OSError:
            return False
        time.sleep(0.1)
    return True


def parent(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def test_a_second_state_dir_cannot_take_a_lab_that_is_up(lab_settings, tmp_path):
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    first = settings.make(state_dir=str(tmp_path / "one"), cache_dir=lab_settings.cache_dir, proxy_port=3149)
    second = settings.make(state_dir=str(tmp_path / "two"), cache_dir=lab_settings.cache_dir, proxy_port=3149)
    pki = tmp_path / "pki"
    master_opts = {"pki_dir": str(pki), "ret_port": 4506, "interface": "0.0.0.0"}
    try:
        region.up(first, master_opts, str(path), wait=False)
        with pytest.raises(LabError, match="is already up from state dir .*/one; run lab.down"):
            region.up(second, master_opts, str(path), wait=False)
    finally:
        region.down(first)
    assert not os.path.exists(tmp_path / "two" / "state.json")


def test_hold_makes_a_second_session_wait(lab_settings):
    with region.hold("hold-test"):
        with pytest.raises(LabError, match="another session has held the lab 'hold-test'"):
            with region.hold("hold-test", wait=0.5):
                pass
    with region.hold("hold-test", wait=0.5):
        pass
    os.unlink(os.path.join(region.OWNERS, "hold-test.session.lock"))


def test_up_again_restarts_a_node_whose_nspawn_died(lab_settings, tmp_path):
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    test_settings = settings.make(state_dir=str(tmp_path / "state"), cache_dir=lab_settings.cache_dir, proxy_port=3149)
    master_opts = {"pki_dir": str(tmp_path / "pki"), "ret_port": 4506, "interface": "0.0.0.0"}
    try:
        first = region.up(test_settings, master_opts, str(path), wait=False)
        dead = first["nodes"]["cmp01"]["pid"]
        orphans = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and parent(pid) == dead]
        os.kill(dead, signal.SIGKILL)
        second = region.up(test_settings, master_opts, str(path), wait=False)
        assert second["up"] is True
        assert second["nodes"]["cmp01"]["pid"] != dead
        assert second["nodes"]["ctl01"]["pid"] == first["nodes"]["ctl01"]["pid"]
        assert not [pid for pid in orphans if alive(pid)]
    finally:
        region.down(test_settings)
