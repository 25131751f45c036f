"""The region pillar made from a lab's topology, and which minions get it."""

import json
import os

import yaml

from releasetrain.lab import pillar, region, topology
from releasetrain.loader import tree_path

KEY = "-----BEGIN PUBLIC KEY-----\nlab key of {}\n-----END PUBLIC KEY-----\n"


def test_the_default_region_pillar_is_what_lab_sls_holds():
    """lab.sls still repeats the default topology's addresses: the two must not drift apart."""
    with open(os.path.join(tree_path("pillar"), "openstack", "region", "lab.sls"), encoding="utf-8") as handle:
        sls = yaml.safe_load(handle)["openstack"]
    made = pillar.region_pillar(topology.load())["openstack"]
    assert made == {"controller": sls["controller"], "nodes": sls["nodes"]}


def test_a_node_without_overlay_or_provider_gets_its_management_address_only():
    topo = topology.parse({
        "name": "small", "networks": [{"name": "mgmt", "cidr": "10.9.0.0/24"}], "master": {"address": "10.9.0.1"},
        "nodes": [{"name": "cmp01", "roles": ["compute"], "addresses": {"mgmt": "10.9.0.31"}}]})
    assert pillar.region_pillar(topo) == {"openstack": {"nodes": {"cmp01": {"management_address": "10.9.0.31"}}}}


def _lab(owners, state_dir, topo_data, accepted):
    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, region.STATE_FILE), "w", encoding="utf-8") as handle:
        json.dump({"topology": topo_data, "accepted": accepted}, handle)
    os.makedirs(owners, exist_ok=True)
    with open(os.path.join(owners, topo_data["name"]), "w", encoding="utf-8") as handle:
        handle.write(str(state_dir))


def _accept(pki, minion_id, key):
    os.makedirs(pki / "minions", exist_ok=True)
    (pki / "minions" / minion_id).write_text(key)


def test_only_the_lab_minion_whose_key_the_lab_made_gets_its_region(tmp_path):
    owners, pki = tmp_path / "owners", tmp_path / "pki"
    default = topology.load()
    copy = topology.derive(default, "cand1", "cand1-", 1)
    _lab(owners, tmp_path / "default", yaml.safe_load(open(default.source, encoding="utf-8")),
         {"ctl01": KEY.format("ctl01")})
    _lab(owners, tmp_path / "cand1", copy, {"cand1-ctl01": KEY.format("cand1-ctl01"), "cand1-cmp02": KEY.format("x")})
    (owners / "cand1.session.lock").write_text("")  # a session lock, not a lab
    _accept(pki, "ctl01", KEY.format("ctl01"))
    _accept(pki, "cand1-ctl01", KEY.format("cand1-ctl01"))
    _accept(pki, "cand1-cmp02", KEY.format("another machine's key"))

    got = pillar.for_minion("cand1-ctl01", str(pki), str(owners))["openstack"]
    assert got["controller"] == {"address": "10.231.42.11"}
    assert got["nodes"]["cand1-cmp02"]["overlay_address"] == "10.231.52.32"
    assert set(got["nodes"]) == {"cand1-ctl01", "cand1-net01", "cand1-cmp01", "cand1-cmp02"}
    assert pillar.for_minion("ctl01", str(pki), str(owners))["openstack"]["controller"] == {"address": "10.231.10.11"}
    assert pillar.for_minion("cand1-cmp02", str(pki), str(owners)) == {}  # accepted key is not the lab's
    assert pillar.for_minion("cand1-net01", str(pki), str(owners)) == {}  # no key accepted
    assert pillar.for_minion("../cand1-ctl01", str(pki), str(owners)) == {}


def test_no_labs_or_a_damaged_one_give_nothing(tmp_path):
    pki = tmp_path / "pki"
    _accept(pki, "ctl01", KEY.format("ctl01"))
    assert pillar.for_minion("ctl01", str(pki), str(tmp_path / "no-owners")) == {}
    owners = tmp_path / "owners"
    _lab(owners, tmp_path / "lab", {"name": "broken", "nodes": "not a list"}, {"ctl01": KEY.format("ctl01")})
    assert pillar.for_minion("ctl01", str(pki), str(owners)) == {}
    (tmp_path / "lab" / region.STATE_FILE).write_text("{not json")
    assert pillar.for_minion("ctl01", str(pki), str(owners)) == {}
