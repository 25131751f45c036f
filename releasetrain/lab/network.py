"""Bridges, network namespaces and veths: the lab's networks on the host.

One Linux bridge per topology network (``rl<tag>-<network>``), one namespace
per node (``rl<tag>-<node>``), and per node and network one veth whose host end
(``rv<tag><node#><net#>-<node>``) joins the bridge and whose node end is named
after the network (``mgmt``, ``tenant``, ...).  ``<tag>`` is three hex digits
of the topology's name, so two labs of different names do not collide.  Only the mgmt bridge gets an address
on the host: the master's.  Nodes get no default route.
"""

import hashlib
import os

from releasetrain.lab import host

NETNS_DIR = "/run/netns"


def tag(topology):
    return hashlib.sha1(topology.name.encode()).hexdigest()[:3]


def bridge_name(topology, network):
    return f"rl{tag(topology)}-{network.name}"


def netns_name(topology, node):
    return f"rl{tag(topology)}-{node.name}"


def netns_path(topology, node):
    return os.path.join(NETNS_DIR, netns_name(topology, node))


def veth_name(topology, node, network):
    node_index = topology.nodes.index(node)
    net_index = topology.networks.index(network)
    return f"rv{tag(topology)}{node_index:02d}{net_index}-{node.name}"[:15]


def link_exists(name, netns=None):
    args = ["-n", netns] if netns else []
    return host.run("ip", *args, "link", "show", "dev", name, check=False).returncode == 0


def netns_exists(name):
    return os.path.exists(os.path.join(NETNS_DIR, name))


def ensure_bridge(topology, network):
    name = bridge_name(topology, network)
    if not link_exists(name):
        host.run("ip", "link", "add", "name", name, "type", "bridge")
    if network.name == "mgmt":
        host.run("ip", "addr", "replace", f"{topology.master_address}/{network.prefixlen}", "dev", name)
    host.run("ip", "link", "set", name, "up")


def ensure_node(topology, node):
    """The node's namespace with one configured veth per network it is on."""
    ns = netns_name(topology, node)
    if not netns_exists(ns):
        host.run("ip", "netns", "add", ns)
    host.run("ip", "-n", ns, "link", "set", "lo", "up")
    for network in topology.networks:
        if network.name not in node.addresses:
            continue
        outside = veth_name(topology, node, network)
        if not link_exists(outside):
            host.run("ip", "link", "add", outside, "type", "veth", "peer", "name", network.name, "netns", ns)
        host.run("ip", "link", "set", outside, "master", bridge_name(topology, network), "up")
        address = f"{node.addresses[network.name]}/{network.prefixlen}"
        host.run("ip", "-n", ns, "addr", "replace", address, "dev", network.name)
        host.run("ip", "-n", ns, "link", "set", network.name, "up")


def remove(topology):
    """Delete every namespace, veth and bridge of ``topology``; missing ones are fine."""
    for node in topology.nodes:
        if netns_exists(netns_name(topology, node)):
            host.run("ip", "netns", "delete", netns_name(topology, node), check=False)
        for network in topology.networks:
            if link_exists(veth_name(topology, node, network)):
                host.run("ip", "link", "delete", veth_name(topology, node, network), check=False)
    for network in topology.networks:
        if link_exists(bridge_name(topology, network)):
            host.run("ip", "link", "delete", bridge_name(topology, network), check=False)


def leftovers(topology):
    """Names of this topology's namespaces and links still on the host."""
    found = [netns_name(topology, n) for n in topology.nodes if netns_exists(netns_name(topology, n))]
    links = [bridge_name(topology, net) for net in topology.networks]
    links += [veth_name(topology, n, net) for n in topology.nodes for net in topology.networks]
    found += [name for name in links if link_exists(name)]
    return found
