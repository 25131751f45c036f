"""Copies of a topology: where each lives, and what one needs before it comes up."""

import time

import pytest
import yaml

from releasetrain.lab import copies, settings, topology
from releasetrain.lab.errors import LabError


def make(tmp_path, opts):
    return copies.Copies(settings.make(state_dir=str(tmp_path / "lab"), mirror="http://m/debian",
                                       security_mirror="http://m/debian-security"), opts)


def test_each_copy_has_its_own_state_dir_proxy_port_and_checked_topology_file(tmp_path):
    lab = make(tmp_path, {})
    two = lab.settings(2)
    assert (two.state_dir, two.proxy_port) == (str(tmp_path / "lab-cand2"), 3150)
    path = lab.topology_file(2)
    assert path == str(tmp_path / "lab-cand2.yml")
    with open(path, encoding="utf-8") as handle:
        written = yaml.safe_load(handle)
    assert written == topology.derive(topology.load(), "cand2", "cand2-", 2) == copies.derived(topology.load(), 2)
    assert topology.load(path).master_address.exploded == "10.231.74.1"


def test_a_copy_does_not_come_up_without_the_ext_pillar_for_its_addresses(tmp_path):
    lab = make(tmp_path, {"ext_pillar": [{"git": "main https://example.invalid/pillar"}]})
    with pytest.raises(LabError, match=r"needs its addresses from the releasetrain_lab ext_pillar: add "
                                       r"`ext_pillar: \[\{releasetrain_lab: \{\}\}\]`"):
        lab.up(1)
    assert not (tmp_path / "lab-cand1").exists()


def test_a_lab_taken_down_while_up_waits_for_its_minions_ends_the_wait_at_once(tmp_path, monkeypatch):
    """A superseded candidate's region is removed under its lab.up: the wait stops, naming why."""
    from releasetrain import saltglue
    from releasetrain.lab import region

    class NoMinions:
        def cmd(self, *args, **kwargs):
            return {}

        def destroy(self):
            pass

    monkeypatch.setattr(saltglue, "local_client", lambda opts: NoMinions())
    lab = make(tmp_path, {})
    one = lab.settings(1)
    topo = topology.load(lab.topology_file(1))
    (tmp_path / "lab-cand1").mkdir()
    (tmp_path / "lab-cand1" / region.STATE_FILE).write_text("{}")
    with pytest.raises(LabError, match="did not answer test.ping within 2s"):
        region._wait_for_minions({}, topo, 2, one)  # up: waits its whole time
    (tmp_path / "lab-cand1" / region.STATE_FILE).unlink()
    started = time.monotonic()
    with pytest.raises(LabError, match=r"^the lab 'cand1' was taken down \(lab.down\) while lab.up waited for its minions$"):
        region._wait_for_minions({}, topo, 120, one)
    assert time.monotonic() - started < 10
