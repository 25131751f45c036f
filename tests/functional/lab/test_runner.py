"""The ``lab`` runner through a real ``salt-run``: checks and errors that need no root."""

import os

import pytest

from releasetrain.lab import network, topology

BAD = """\
name: bad-region
networks:
  - {name: mgmt, cidr: 10.231.210.0/24}
master: {address: 10.231.210.1}
nodes:
  - {name: ctl01, roles: [controller], addresses: {mgmt: 10.231.210.11}}
  - {name: ctl01, roles: [compute], addresses: {mgmt: 10.231.210.12}}
"""


@pytest.fixture
def lab_run(make_master, tmp_path):
    state_dir = tmp_path / "lab-state"
    master = make_master(releasetrain={"lab": {"state_dir": str(state_dir), "cache_dir": str(tmp_path / "c")}})
    return master.salt_run_cli(timeout=120), state_dir


def test_check_summarizes_the_default_topology(lab_run):
    salt_run, _ = lab_run
    ret = salt_run.run("lab.check")
    assert ret.returncode == 0, ret.stdout
    assert sorted(ret.data["nodes"]) == ["cmp01", "cmp02", "ctl01", "net01"]
    assert ret.data["nodes"]["cmp02"]["roles"] == ["compute"]


def test_bad_topology_fails_in_one_line_and_creates_nothing(lab_run, tmp_path):
    salt_run, state_dir = lab_run
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    for function in ("lab.check", "lab.up"):
        ret = salt_run.run(function, f"topology={bad}")
        assert ret.returncode == 1, (function, ret.stdout)
        assert ret.data["error"] == f"{bad}: duplicate node name 'ctl01'" or (
            # without root (or the lab's tools) lab.up stops before reading the file
            function == "lab.up" and "the lab needs" in ret.data["error"]
        )
    assert not os.path.exists(state_dir / "state.json")
    bad_topology = topology.Topology("bad-region", (), None, ())
    tag = network.tag(bad_topology)
    links = os.listdir("/sys/class/net")
    assert not [link for link in links if tag in link]


def test_status_and_down_without_a_lab(lab_run):
    salt_run, state_dir = lab_run
    ret = salt_run.run("lab.status")
    assert ret.returncode == 0
    assert ret.data["up"] is False
    ret = salt_run.run("lab.down")
    if ret.returncode == 0:
        assert ret.data["removed"] is False
    else:  # not root: one line saying so
        assert "the lab needs" in ret.data["error"]


def test_unknown_setting_is_one_line(make_master):
    master = make_master(releasetrain={"lab": {"statedir": "/tmp/x"}})
    ret = master.salt_run_cli(timeout=120).run("lab.status")
    assert ret.returncode == 1
    assert ret.data["error"].startswith("releasetrain:lab: unknown key 'statedir'")


def test_layers_from_an_unknown_or_unpublished_environment_fail_in_one_line(lab_run):
    salt_run, state_dir = lab_run
    for env, message in (("nope", "unknown environment 'nope'"),
                         ("test", "layers=test: no release with states/ is published to test")):
        ret = salt_run.run("lab.up", f"layers={env}")
        assert ret.returncode == 1, ret.stdout
        assert ret.data["error"].startswith(message) and "\n" not in ret.data["error"], ret.data
    assert not os.path.exists(state_dir / "state.json")
