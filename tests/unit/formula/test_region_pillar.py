"""The committed lab region pillar matches the lab's topology (lab/region-minimal.yml)."""

import os

import yaml

from releasetrain.loader import tree_path, tree_root


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_lab_region_pillar_matches_the_lab_topology():
    topology = load(os.path.join(tree_root(), "lab", "region-minimal.yml"))
    region = load(os.path.join(tree_path("pillar"), "openstack", "region", "lab.sls"))["openstack"]
    controllers = [node for node in topology["nodes"] if "controller" in node["roles"]]
    assert region["controller"]["address"] == controllers[0]["addresses"]["mgmt"]
    assert sorted(region["nodes"]) == sorted(node["name"] for node in topology["nodes"])
    for node in topology["nodes"]:
        entry = region["nodes"][node["name"]]
        assert entry["management_address"] == node["addresses"]["mgmt"]
        assert entry["overlay_address"] == node["addresses"]["tenant"]
        # inside a lab node each network's interface bears the network's name
        assert entry["provider_interface"] == "provider"
