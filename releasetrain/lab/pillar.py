"""The formula's region pillar of a running lab, made from its topology (the one source of its
addresses): ``openstack:controller:address`` and, per node, ``openstack:nodes:<id>`` with its
management address, its overlay address (the ``tenant`` network) and its provider interface
(a lab node's interface bears its network's name).

The ``releasetrain_lab`` ext_pillar (``_pillar/releasetrain_lab.py``) gives it to the minions of
every lab up on this host (candidate regions included), and only to a minion whose accepted key
is the one the lab made for it: a minion of the same name elsewhere gets nothing from here.
"""

import json
import os

from releasetrain.lab import region, topology
from releasetrain.lab.errors import LabError

OVERLAY_NETWORK = "tenant"
PROVIDER_NETWORK = "provider"


def region_pillar(topo):
    """The region pillar of ``topo`` (a :class:`~releasetrain.lab.topology.Topology`)."""
    controller = next((node for node in topo.nodes if "controller" in node.roles), None)
    nodes = {}
    for node in topo.nodes:
        entry = {"management_address": str(node.mgmt_address)}
        if OVERLAY_NETWORK in node.addresses:
            entry["overlay_address"] = str(node.addresses[OVERLAY_NETWORK])
        if PROVIDER_NETWORK in node.addresses:
            entry["provider_interface"] = PROVIDER_NETWORK
        nodes[node.name] = entry
    pillar = {"nodes": nodes}
    if controller is not None:
        pillar["controller"] = {"address": str(controller.mgmt_address)}
    return {"openstack": pillar}


def running_labs(owners=region.OWNERS):
    """``(state dir, state)`` of every lab up on this host, as ``lab.up`` recorded them."""
    try:
        names = sorted(os.listdir(owners))
    except OSError:
        return []
    labs = []
    for name in names:
        if name.endswith(".lock"):
            continue
        state_dir = region.read_file(os.path.join(owners, name))
        try:
            with open(os.path.join(state_dir or "", region.STATE_FILE), encoding="utf-8") as handle:
                labs.append((state_dir, json.load(handle)))
        except (OSError, ValueError):
            continue  # being removed, or not this lab's any more
    return labs


def for_minion(minion_id, pki_dir, owners=region.OWNERS):
    """The region pillar of the lab ``minion_id`` is a node of, or ``{}``: only when the master's
    accepted key of ``minion_id`` is the one that lab made."""
    accepted = region.read_file(os.path.join(pki_dir, "minions", minion_id)) if "/" not in minion_id else None
    if not accepted:
        return {}
    for state_dir, state in running_labs(owners):
        if not isinstance(state, dict) or (state.get("accepted") or {}).get(minion_id) != accepted:
            continue
        try:
            topo = topology.parse(state.get("topology"), source=os.path.join(state_dir, region.STATE_FILE))
        except LabError:  # a damaged state file gives no pillar
            continue
        if any(node.name == minion_id for node in topo.nodes):
            return region_pillar(topo)
    return {}
