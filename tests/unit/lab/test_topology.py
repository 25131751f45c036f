"""Topology checks: every mistake is one clear line; the shipped default is valid."""

import copy
import ipaddress

import pytest
import yaml

from releasetrain.lab import topology
from releasetrain.lab.errors import LabError
from releasetrain.errors import ReleaseTrainError

GOOD = {
    "name": "r1",
    "networks": [
        {"name": "mgmt", "cidr": "10.231.10.0/24"},
        {"name": "tenant", "cidr": "10.231.20.0/24"},
    ],
    "master": {"address": "10.231.10.1"},
    "nodes": [
        {"name": "ctl01", "roles": ["controller"], "addresses": {"mgmt": "10.231.10.11", "tenant": "10.231.20.11"}},
        {"name": "cmp01", "roles": ["compute"], "addresses": {"mgmt": "10.231.10.31", "tenant": "10.231.20.31"}},
    ],
}


def changed(path, value):
    """GOOD with the item at ``path`` (keys and list indexes) set to ``value``."""
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


ERRORS = [
    (changed(["nodes", 1, "name"], "ctl01"), "duplicate node name 'ctl01'"),
    (changed(["nodes", 1, "addresses", "mgmt"], "10.231.10.11"), "address 10.231.10.11 is already used by node 'ctl01'"),
    (changed(["nodes", 0, "addresses", "mgmt"], "10.231.10.1"), "address 10.231.10.1 is already used by the master"),
    (changed(["nodes", 0, "addresses", "storage"], "10.231.40.5"), "node 'ctl01': unknown network 'storage'"),
    (changed(["nodes", 0, "roles"], ["controller", "dns"]), "node 'ctl01': unknown role 'dns'"),
    (
        changed(["nodes", 1, "addresses", "tenant"], "10.231.21.31"),
        "node 'cmp01': address 10.231.21.31 is outside network 'tenant' (10.231.20.0/24)",
    ),
    (changed(["master", "address"], "10.231.20.1"), "master: address 10.231.20.1 is outside network 'mgmt'"),
    (changed(["nodes", 0, "addresses", "mgmt"], "10.231.10.255"), "is the network or broadcast address"),
    (changed(["networks", 1, "name"], "mgmt"), "duplicate network name 'mgmt'"),
    (changed(["networks", 1, "cidr"], "10.231.10.128/25"), "network 'tenant': 10.231.10.128/25 overlaps network 'mgmt'"),
    (changed(["networks", 1, "cidr"], "8.8.8.0/24"), "must be a private range"),
    (changed(["networks", 1, "cidr"], "10.231.20.300/24"), "is not an IPv4 network"),
    (changed(["networks", 0, "name"], "management"), "must be 1-9 lowercase letters or digits"),
    (changed(["networks"], [{"name": "tenant", "cidr": "10.231.20.0/24"}]), "a network named 'mgmt' is required"),
    (changed(["nodes", 0, "addresses"], {"tenant": "10.231.20.11"}), "include 'mgmt'"),
    (changed(["nodes", 0, "roles"], []), "roles must be a non-empty list"),
    (changed(["nodes", 0, "name"], "Ctl_01"), "node name 'Ctl_01' must be a lowercase host name"),
    (changed(["nodes", 0, "color"], "blue"), "each node: unknown key 'color'"),
    (changed(["nodes"], []), "nodes must be a non-empty list"),
    (changed(["name"], None), "name must be a short lowercase name"),
    ("just a string", "the topology must be a mapping"),
    (changed(["distribution"], "buster"), "the topology: unknown distribution 'buster' (known: bookworm, trixie)"),
    (changed(["nodes", 1, "distribution"], "sid"), "node 'cmp01': unknown distribution 'sid' (known: bookworm, trixie)"),
    (changed(["nodes", 1, "distribution"], ["trixie"]), "node 'cmp01': unknown distribution ['trixie']"),
    (changed(["distribution"], 13), "the topology: unknown distribution 13"),
]


@pytest.mark.parametrize("data, message", ERRORS, ids=[message for _, message in ERRORS])
def test_bad_topology_is_one_clear_line(data, message):
    with pytest.raises(LabError) as info:
        topology.parse(data, source="region.yml")
    text = str(info.value)
    assert message in text
    assert text.startswith("region.yml: ")
    assert "\n" not in text
    assert isinstance(info.value, ReleaseTrainError)


def test_distribution_of_the_topology_and_of_a_node():
    plain = topology.parse(GOOD)
    assert plain.distribution is None and {node.distribution for node in plain.nodes} == {None}
    mixed = topology.parse({**changed(["nodes", 1, "distribution"], "trixie"), "distribution": "bookworm"})
    assert [(node.name, node.distribution) for node in mixed.nodes] == [("ctl01", "bookworm"), ("cmp01", "trixie")]
    assert topology.summary(mixed)["nodes"]["cmp01"]["distribution"] == "trixie"
    assert all(node.distribution == "trixie" for node in topology.parse({**GOOD, "distribution": "trixie"}).nodes)


def test_good_topology_parses():
    topo = topology.parse(GOOD)
    assert [node.name for node in topo.nodes] == ["ctl01", "cmp01"]
    assert topo.node("cmp01").roles == ("compute",)
    assert topo.node("ctl01").mgmt_address == ipaddress.IPv4Address("10.231.10.11")
    assert topo.master_address == ipaddress.IPv4Address("10.231.10.1")


def test_shipped_default_is_the_four_node_region():
    topo = topology.load()
    assert [(node.name, node.roles) for node in topo.nodes] == [
        ("ctl01", ("controller",)),
        ("net01", ("network",)),
        ("cmp01", ("compute",)),
        ("cmp02", ("compute",)),
    ]
    assert [net.name for net in topo.networks] == ["mgmt", "tenant", "provider"]
    assert all(net.cidr.is_private for net in topo.networks)
    assert all(set(node.addresses) == {"mgmt", "tenant", "provider"} for node in topo.nodes)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(LabError, match="cannot read the topology"):
        topology.load(str(tmp_path / "missing.yml"))
    broken = tmp_path / "broken.yml"
    broken.write_text("nodes: [\n")
    with pytest.raises(LabError, match="not valid YAML") as info:
        topology.load(str(broken))
    assert "\n" not in str(info.value)


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "r1.yml"
    path.write_text(yaml.safe_dump(GOOD))
    assert topology.load(str(path)).source == str(path)


def test_a_copy_moves_every_range_past_the_original_and_prefixes_the_nodes():
    topo = topology.load()
    assert topology.span(topo) == ipaddress.IPv4Network("10.231.0.0/19")
    copies = [topology.parse(topology.derive(topo, f"cand{n}", f"cand{n}-", n)) for n in (1, 2, 3)]
    first = copies[0]
    assert (first.name, first.master_address) == ("cand1", ipaddress.IPv4Address("10.231.42.1"))
    assert [node.name for node in first.nodes] == ["cand1-ctl01", "cand1-net01", "cand1-cmp01", "cand1-cmp02"]
    assert first.node("cand1-cmp02").addresses == {
        "mgmt": ipaddress.IPv4Address("10.231.42.32"), "tenant": ipaddress.IPv4Address("10.231.52.32"),
        "provider": ipaddress.IPv4Address("10.231.62.32")}
    assert [node.roles for node in first.nodes] == [node.roles for node in topo.nodes]
    every = [topo, *copies]
    for one in every:  # no range of any copy overlaps a range of another or of the original
        for other in every:
            if other is not one:
                assert not any(a.cidr.overlaps(b.cidr) for a in one.networks for b in other.networks)


def test_a_copy_keeps_the_distributions():
    data = changed(["distribution"], "trixie")
    data["nodes"][1]["distribution"] = "bookworm"
    copy_data = topology.derive(topology.parse(data), "c1", "c1-", 1)
    copied = topology.parse(copy_data)
    assert copied.distribution == "trixie"
    assert [node.distribution for node in copied.nodes] == ["trixie", "bookworm"]
    assert "distribution" not in topology.derive(topology.parse(GOOD), "c1", "c1-", 1)


@pytest.mark.parametrize("cidr, master, node, copy_number", [
    ("192.168.0.0/16", "192.168.0.1", "192.168.0.11", 1),  # 192.169.0.0/16 is public
    ("10.255.0.0/16", "10.255.0.1", "10.255.0.11", 1),  # 11.0.0.0/16 is public
])
def test_a_copy_outside_the_private_ranges_is_one_line(cidr, master, node, copy_number):
    data = {"name": "edge", "networks": [{"name": "mgmt", "cidr": cidr}], "master": {"address": master},
            "nodes": [{"name": "ctl01", "roles": ["controller"], "addresses": {"mgmt": node}}]}
    with pytest.raises(LabError, match=r"copy 1 \(c1\).*must be a private range") as err:
        topology.derive(topology.parse(data), "c1", "c1-", copy_number)
    assert "\n" not in str(err.value)


def test_a_copy_past_the_last_address_is_one_line():
    # (a file with these ranges is refused by parse, as they are not private: built directly)
    topo = topology.Topology("edge", (topology.Network("mgmt", ipaddress.IPv4Network("255.255.255.252/30")),),
                             ipaddress.IPv4Address("255.255.255.253"),
                             (topology.Node("ctl01", ("controller",), {"mgmt": ipaddress.IPv4Address("255.255.255.254")}),))
    with pytest.raises(LabError, match="runs out of IPv4 addresses"):
        topology.derive(topo, "c1", "c1-", 1)
