"""The ``releasetrain_lab`` ext_pillar through a real salt-master: a lab minion's region pillar
comes from its lab's topology."""

import json
import os
import shutil
import uuid

import pytest

from releasetrain.lab import region, topology


@pytest.fixture
def candidate_lab(tmp_path):
    """A lab recorded as up (its state file and owner entry, as ``lab.up`` writes them), without
    nodes: enough for the pillar, which reads only those."""
    if os.geteuid() != 0:
        pytest.skip("registering a lab needs root (/run/releasetrain-lab)")
    name = f"pt{uuid.uuid4().hex[:8]}"
    data = topology.derive(topology.load(), name, f"{name}-", 3)
    state_dir = tmp_path / "lab"
    state_dir.mkdir()
    os.makedirs(region.OWNERS, exist_ok=True)
    owner = os.path.join(region.OWNERS, name)
    with open(owner, "w", encoding="utf-8") as handle:
        handle.write(str(state_dir))
    yield name, data, state_dir
    os.unlink(owner)
    shutil.rmtree(state_dir)


def test_a_lab_minion_gets_its_regions_addresses_and_others_nothing(make_master, candidate_lab):
    name, data, state_dir = candidate_lab
    master = make_master(ext_pillar=[{"releasetrain_lab": {}}])
    minion = f"{name}-cmp01"
    key = f"-----BEGIN PUBLIC KEY-----\n{name}\n-----END PUBLIC KEY-----\n"
    accepted = os.path.join(master.config["pki_dir"], "minions")
    os.makedirs(accepted, exist_ok=True)
    with open(os.path.join(accepted, minion), "w", encoding="utf-8") as handle:
        handle.write(key)
    with open(state_dir / region.STATE_FILE, "w", encoding="utf-8") as handle:
        json.dump({"topology": data, "accepted": {minion: key}}, handle)

    salt_run = master.salt_run_cli(timeout=120)
    ret = salt_run.run("pillar.show_pillar", minion)
    assert ret.returncode == 0, ret.stderr
    cmp01 = next(node for node in data["nodes"] if node["name"] == minion)
    ctl01 = data["nodes"][0]
    assert ret.data["openstack"]["controller"] == {"address": ctl01["addresses"]["mgmt"]}
    assert ret.data["openstack"]["nodes"][minion] == {
        "management_address": cmp01["addresses"]["mgmt"], "overlay_address": cmp01["addresses"]["tenant"],
        "provider_interface": "provider"}
    other = salt_run.run("pillar.show_pillar", f"{name}-net01")  # in the lab, but its key is not accepted
    assert other.returncode == 0 and "openstack" not in (other.data or {}), other.stdout
