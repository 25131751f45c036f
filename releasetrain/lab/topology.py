"""Read and check a region topology (``lab/region-minimal.yml`` is the default).

A topology names the networks (private IPv4 ranges), the salt-master's address
on ``mgmt`` and the nodes with their roles and one address per network.  The
lab, the Vagrantfile and the salt-cloud generator all read it; nothing is
created before :func:`load` has accepted the whole file.
"""

import ipaddress
import os
import re
from dataclasses import dataclass, field

import yaml

from releasetrain.lab.errors import LabError

KNOWN_ROLES = ("controller", "network", "compute", "storage")
# The Debian releases a node can run (codename -> version); each has its own cached base image.
KNOWN_DISTRIBUTIONS = {"bookworm": "12", "trixie": "13"}
REQUIRED_NETWORKS = ("mgmt",)
# Bridges are named "rl<tag>-<network>" and Linux caps interface names at 15 chars.
_NETWORK_NAME = re.compile(r"^[a-z][a-z0-9]{0,8}$")
_NODE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_TOP_KEYS = {"name", "networks", "master", "nodes", "distribution"}
_NODE_KEYS = {"name", "roles", "addresses", "distribution"}
_NETWORK_KEYS = {"name", "cidr"}


@dataclass(frozen=True)
class Network:
    name: str
    cidr: ipaddress.IPv4Network

    @property
    def prefixlen(self):
        return self.cidr.prefixlen


@dataclass(frozen=True)
class Node:
    name: str
    roles: tuple
    addresses: dict = field(hash=False)  # network name -> IPv4Address
    distribution: str = None  # None: the topology's, else the lab's default (``suite``)

    @property
    def mgmt_address(self):
        return self.addresses["mgmt"]


@dataclass(frozen=True)
class Topology:
    name: str
    networks: tuple
    master_address: ipaddress.IPv4Address
    nodes: tuple
    source: str = ""
    distribution: str = None  # None: the lab's default (``releasetrain:lab:suite``)

    def network(self, name):
        return next(net for net in self.networks if net.name == name)

    def node(self, name):
        return next(node for node in self.nodes if node.name == name)


def default_path():
    """The shipped default topology, ``lab/region-minimal.yml``."""
    from releasetrain.loader import tree_root

    return os.path.join(tree_root(), "lab", "region-minimal.yml")


def load(path=None):
    """Read and check the topology file at ``path`` (default: the shipped one)."""
    path = os.path.abspath(path or default_path())
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as err:
        raise LabError(f"{path}: cannot read the topology: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise LabError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
    return parse(data, source=path)


def parse(data, source="topology"):
    """Check topology ``data`` (already parsed YAML) and return a :class:`Topology`."""
    checker = _Checker(source)
    return checker.topology(data)


class _Checker:
    def __init__(self, source):
        self.source = source

    def fail(self, problem):
        raise LabError(f"{self.source}: {problem}")

    def mapping(self, value, what, allowed):
        if not isinstance(value, dict):
            self.fail(f"{what} must be a mapping")
        unknown = sorted(set(value) - allowed)
        if unknown:
            self.fail(f"{what}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
        return value

    def topology(self, data):
        data = self.mapping(data, "the topology", _TOP_KEYS)
        name = data.get("name")
        if not isinstance(name, str) or not _NODE_NAME.match(name):
            self.fail("name must be a short lowercase name such as 'region-minimal'")
        distribution = self.distribution(data.get("distribution"), "the topology")
        networks = self.networks(data.get("networks"))
        master = self.master(data.get("master"), networks)
        nodes = self.nodes(data.get("nodes"), networks, master, distribution)
        return Topology(name, networks, master, nodes, self.source, distribution)

    def distribution(self, value, owner):
        if value is None:
            return None
        if not isinstance(value, str) or value not in KNOWN_DISTRIBUTIONS:
            self.fail(f"{owner}: unknown distribution {value!r} (known: {', '.join(KNOWN_DISTRIBUTIONS)})")
        return value

    def networks(self, items):
        if not isinstance(items, list) or not items:
            self.fail("networks must be a non-empty list of {name, cidr}")
        networks = []
        for item in items:
            item = self.mapping(item, "each network", _NETWORK_KEYS)
            name = item.get("name")
            if not isinstance(name, str) or not _NETWORK_NAME.match(name):
                self.fail(f"network name {name!r} must be 1-9 lowercase letters or digits")
            if any(net.name == name for net in networks):
                self.fail(f"duplicate network name {name!r}")
            try:
                cidr = ipaddress.IPv4Network(str(item.get("cidr")))
            except ValueError as err:
                self.fail(f"network {name!r}: cidr {item.get('cidr')!r} is not an IPv4 network ({err})")
            if not cidr.is_private or cidr.prefixlen > 30:
                self.fail(f"network {name!r}: {cidr} must be a private range of /30 or larger")
            for other in networks:
                if cidr.overlaps(other.cidr):
                    self.fail(f"network {name!r}: {cidr} overlaps network {other.name!r} ({other.cidr})")
            networks.append(Network(name, cidr))
        for required in REQUIRED_NETWORKS:
            if not any(net.name == required for net in networks):
                self.fail(f"a network named {required!r} is required")
        return tuple(networks)

    def address(self, value, network, owner):
        try:
            address = ipaddress.IPv4Address(str(value))
        except ValueError:
            self.fail(f"{owner}: {value!r} on network {network.name!r} is not an IPv4 address")
        if address not in network.cidr:
            self.fail(f"{owner}: address {address} is outside network {network.name!r} ({network.cidr})")
        if address in (network.cidr.network_address, network.cidr.broadcast_address):
            self.fail(f"{owner}: address {address} is the network or broadcast address of {network.cidr}")
        return address

    def master(self, item, networks):
        item = self.mapping(item, "master", {"address"})
        mgmt = next(net for net in networks if net.name == "mgmt")
        return self.address(item.get("address"), mgmt, "master")

    def nodes(self, items, networks, master, distribution):
        if not isinstance(items, list) or not items:
            self.fail("nodes must be a non-empty list of {name, roles, addresses}")
        by_name = {net.name: net for net in networks}
        taken = {master: "the master"}
        nodes = []
        for item in items:
            item = self.mapping(item, "each node", _NODE_KEYS)
            name = item.get("name")
            if not isinstance(name, str) or not _NODE_NAME.match(name):
                self.fail(f"node name {name!r} must be a lowercase host name such as 'cmp01'")
            if any(node.name == name for node in nodes):
                self.fail(f"duplicate node name {name!r}")
            owner = f"node {name!r}"
            roles = item.get("roles")
            if not isinstance(roles, list) or not roles:
                self.fail(f"{owner}: roles must be a non-empty list (known: {', '.join(KNOWN_ROLES)})")
            for role in roles:
                if role not in KNOWN_ROLES:
                    self.fail(f"{owner}: unknown role {role!r} (known: {', '.join(KNOWN_ROLES)})")
            if len(set(roles)) != len(roles):
                self.fail(f"{owner}: a role is listed twice")
            addresses = item.get("addresses")
            if not isinstance(addresses, dict) or "mgmt" not in addresses:
                self.fail(f"{owner}: addresses must map network names to addresses and include 'mgmt'")
            checked = {}
            for net_name, value in addresses.items():
                if net_name not in by_name:
                    self.fail(f"{owner}: unknown network {net_name!r} (known: {', '.join(by_name)})")
                address = self.address(value, by_name[net_name], owner)
                if address in taken:
                    self.fail(f"{owner}: address {address} is already used by {taken[address]}")
                taken[address] = owner
                checked[net_name] = address
            # Keep the topology's network order so interface order is stable.
            ordered = {net.name: checked[net.name] for net in networks if net.name in checked}
            own = self.distribution(item.get("distribution"), owner)
            nodes.append(Node(name, tuple(roles), ordered, own or distribution))
        return tuple(nodes)


def span(topo):
    """The smallest network holding every network of ``topo``: a copy shifted by its size does
    not overlap the original."""
    networks = [net.cidr for net in topo.networks]
    first = min(int(net.network_address) for net in networks)
    last = max(int(net.broadcast_address) for net in networks)
    prefix = 32 - (first ^ last).bit_length()
    return ipaddress.IPv4Network((first, prefix), strict=False)


def derive(topo, name, prefix, copy_number):
    """Topology data (as a file holds it) of copy ``copy_number`` (1, 2, ...) of ``topo``: named
    ``name``, every node's name prefixed with ``prefix``, and every range and address moved up by
    ``copy_number`` times :func:`span`, so copies run beside ``topo`` and each other.  A copy that
    leaves the private ranges fails in one line naming it."""
    step = span(topo).num_addresses * copy_number

    def moved(address):
        return str(ipaddress.IPv4Address(int(address) + step))

    try:
        data = {
            "name": name,
            "networks": [{"name": net.name, "cidr": f"{moved(net.cidr.network_address)}/{net.prefixlen}"}
                         for net in topo.networks],
            "master": {"address": moved(topo.master_address)},
            "nodes": [{"name": f"{prefix}{node.name}", "roles": list(node.roles),
                       "addresses": {net: moved(address) for net, address in node.addresses.items()},
                       **({"distribution": node.distribution} if node.distribution else {})}
                      for node in topo.nodes],
            **({"distribution": topo.distribution} if topo.distribution else {}),
        }
    except ipaddress.AddressValueError as err:
        raise LabError(f"{topo.source or topo.name}: copy {copy_number} ({name}) runs out of IPv4 addresses") from err
    parse(data, source=f"{topo.source or topo.name}, copy {copy_number} ({name})")
    return data


def summary(topo):
    """A plain dict of ``topo`` for runner output."""
    return {
        "name": topo.name,
        "source": topo.source,
        "master": str(topo.master_address),
        "networks": {net.name: str(net.cidr) for net in topo.networks},
        "nodes": {
            node.name: {
                "roles": list(node.roles),
                "addresses": {k: str(v) for k, v in node.addresses.items()},
                **({"distribution": node.distribution} if node.distribution else {}),
            }
            for node in topo.nodes
        },
    }
