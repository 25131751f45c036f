"""Bring a topology's lab up, report on it, and take it down again.

``state.json`` in the state dir records the topology (as parsed data, so
``down`` needs no file), the master's pki dir and the keys accepted there.  It
is written before anything is created, so ``down`` cleans up after a failed or
interrupted ``up`` too.
"""

import contextlib
import json
import os
import shutil
import time

from releasetrain.lab import host, image, network, nodes, proxy, topology
from releasetrain.lab import layers as role_layers
from releasetrain.errors import ReleaseTrainError
from releasetrain.lab.errors import LabError
from releasetrain.locking import file_lock

STATE_FILE = "state.json"
# Bridges and namespaces are named after the topology, so one lab of a name per host:
# <OWNERS>/<name> holds the state dir of the lab that has it.
OWNERS = "/run/releasetrain-lab"


def up(settings, master_opts, topology_path=None, wait=True, log=print, layers=None):
    """Build (or complete) the lab for ``topology_path``; a no-op when it is up.

    ``layers`` (a :class:`releasetrain.lab.layers.Source`: a release's trees) mounts each new node
    over the role layer of that release's package states, built first when it is not cached; a
    layer that cannot be made is logged, and its nodes come up without one."""
    host.require()
    topo_data, topo = _read_topology(topology_path)
    _check_master(master_opts, topo)
    started = time.monotonic()
    with _locked(settings.state_dir):
        state = _load_state(settings)
        if state and state["topology"]["name"] != topo.name:
            raise LabError(
                f"the lab {state['topology']['name']!r} is up in {settings.state_dir}; run `salt-run lab.down` first"
            )
        if state and topology.parse(state["topology"], source="state") != topology.parse(topo_data, source="state"):
            raise LabError(f"the lab {topo.name!r} is up with another topology; run `salt-run lab.down` first")
        _claim(topo.name, settings.state_dir)
        state = state or {"topology": topo_data, "source": topo.source, "accepted": {}}
        state["pki_dir"] = master_opts["pki_dir"]
        _save_state(settings, state)

        base_roots = {suite: image.ensure(settings, suite, log=log) for suite in sorted(
            {distribution(settings, node) for node in topo.nodes})}
        for net in topo.networks:
            network.ensure_bridge(topo, net)
        for node in topo.nodes:  # before the role layers: their builds run in the nodes' namespaces
            network.ensure_node(topo, node)
        proxy.ensure(
            proxy.ProxyDirs(settings.state_dir, settings.cache_dir), topo.master_address, settings.proxy_port,
            settings.mirror,
        )
        fresh = [node for node in topo.nodes if not host.mounted(nodes.NodeDirs(settings.state_dir, node).root)]
        node_layers = _layers(settings, topo, fresh, layers, base_roots, log) if layers and fresh else {}
        state.setdefault("layers", {}).update(
            {name: os.path.basename(os.path.dirname(path)) for name, path in node_layers.items()})
        _save_state(settings, state)
        master_pub = read_file(os.path.join(master_opts["pki_dir"], "master.pub"))
        for node in topo.nodes:
            dirs = nodes.NodeDirs(settings.state_dir, node)
            public = nodes.ensure_keys(dirs, node)
            _accept(master_opts["pki_dir"], node.name, public)
            state["accepted"][node.name] = public
            _save_state(settings, state)
            nodes.ensure_root(dirs, base_roots[distribution(settings, node)], node_layers.get(node.name))
            if not nodes.running(dirs):
                # a node whose nspawn died may have left its systemd behind: clear it first
                nodes.stop_all([(dirs, network.netns_path(topo, node))])
                nodes.write_config(dirs, topo, node, master_opts["ret_port"], settings.proxy_port, master_pub)
                nodes.boot(dirs, topo, node)
    answered = _wait_for_minions(master_opts, topo, settings.boot_timeout, settings) if wait else None
    result = status(settings)
    result["seconds"] = round(time.monotonic() - started, 1)
    if answered is not None:
        result["answering"] = sorted(answered)
    return result


def _layers(settings, topo, fresh, source, base_roots, log):
    try:
        return role_layers.prepare(settings, topo, fresh, source, base_roots,
                                   lambda node: distribution(settings, node), log=log)
    except (ReleaseTrainError, OSError) as err:  # a cache: its failure never fails the lab
        log(f"{err}; the nodes come up without role layers")
        return {}


def distribution(settings, node):
    """The Debian release ``node`` boots: its own, its topology's, else the lab's ``suite``."""
    return node.distribution or settings.suite


def down(settings):
    """Remove everything the lab made; safe to run twice and after a failed ``up``."""
    host.require()
    with _locked(settings.state_dir):
        state = _load_state(settings)
        if state is None:
            return {"removed": False, "comment": f"no lab in {settings.state_dir}"}
        topo = topology.parse(state["topology"], source=f"{settings.state_dir}/{STATE_FILE}")
        nodes.stop_all([(nodes.NodeDirs(settings.state_dir, n), network.netns_path(topo, n)) for n in topo.nodes])
        for node in topo.nodes:
            nodes.unmount(nodes.NodeDirs(settings.state_dir, node))
        proxy.stop(proxy.ProxyDirs(settings.state_dir, settings.cache_dir))
        survivors = _processes(settings, topo)  # found by namespace: look before removing them
        if survivors:
            raise LabError(f"lab.down could not stop {', '.join(survivors)}; kill them, then run lab.down again")
        network.remove(topo)
        for minion_id, public in state.get("accepted", {}).items():
            _unaccept(state.get("pki_dir"), minion_id, public)
        left = leftovers(settings, topo)
        if left:
            raise LabError(f"lab.down left {', '.join(left)}; remove them by hand")
        _release(topo.name, settings.state_dir)
        for entry in os.listdir(settings.state_dir):
            if entry != ".lock":
                path = os.path.join(settings.state_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    return {"removed": True, "lab": topo.name, "nodes": [node.name for node in topo.nodes]}


def status(settings):
    """What runs of the lab: nodes (pid, addresses, roles), bridges, the apt proxy."""
    state = _load_state(settings)
    if state is None:
        return {"up": False, "comment": f"no lab in {settings.state_dir}"}
    topo = topology.parse(state["topology"], source=f"{settings.state_dir}/{STATE_FILE}")
    node_info = {}
    for node in topo.nodes:
        dirs = nodes.NodeDirs(settings.state_dir, node)
        node_info[node.name] = {
            "running": nodes.running(dirs),
            "pid": nodes.read_pid(dirs),
            "roles": list(node.roles),
            "distribution": distribution(settings, node),
            "layer": (state.get("layers") or {}).get(node.name),
            "addresses": {net: str(addr) for net, addr in node.addresses.items()},
            "netns": network.netns_name(topo, node),
        }
    proxy_dirs = proxy.ProxyDirs(settings.state_dir, settings.cache_dir)
    return {
        "up": all(info["running"] for info in node_info.values()),
        "lab": topo.name,
        "topology": state.get("source"),
        "master": str(topo.master_address),
        "bridges": {net.name: network.bridge_name(topo, net) for net in topo.networks},
        "apt_proxy": {
            "running": proxy.running(proxy_dirs),
            "url": nodes.apt_proxy_url(topo, settings.proxy_port),
        },
        "nodes": node_info,
        "state_dir": settings.state_dir,
    }


def leftovers(settings, topo):
    """What of the lab is still on the host: namespaces, links, mounts, processes."""
    found = network.leftovers(topo)
    for node in topo.nodes:
        if host.mounted(nodes.NodeDirs(settings.state_dir, node).root):
            found.append(nodes.NodeDirs(settings.state_dir, node).root)
    found += _processes(settings, topo)
    if proxy.running(proxy.ProxyDirs(settings.state_dir, settings.cache_dir)):
        found.append("apt-cacher-ng")
    return found


@contextlib.contextmanager
def hold(name, wait=1200.0):
    """Hold lab ``name`` on this host for a whole session (tests, benchmarks).

    ``lab.up`` refuses a lab whose name another state dir has; sessions that
    bring a lab up and down again take this lock first, so a second one waits
    instead of failing.
    """
    def busy(holder, waited):
        return LabError(f"another session has held the lab {name!r} for {waited:.0f}s ({holder})")

    with file_lock(os.path.join(OWNERS, f"{name}.session.lock"), wait, f"the lab {name!r}", error=busy, poll=1):
        yield


def _claim(name, state_dir):
    path = os.path.join(OWNERS, name)
    owner = read_file(path)
    if owner and owner != state_dir and os.path.exists(os.path.join(owner, STATE_FILE)):
        raise LabError(
            f"the lab {name!r} is already up from state dir {owner}; "
            "run lab.down with that state_dir first, or rename this topology"
        )
    os.makedirs(OWNERS, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(state_dir)


def _release(name, state_dir):
    path = os.path.join(OWNERS, name)
    if read_file(path) == state_dir:
        os.unlink(path)


def _processes(settings, topo):
    found = []
    for node in topo.nodes:
        pids = nodes.processes(nodes.NodeDirs(settings.state_dir, node), network.netns_path(topo, node))
        found += [f"pid {pid} ({node.name})" for pid in pids]
    return found


def _read_topology(path):
    topo = topology.load(path)
    with open(topo.source, encoding="utf-8") as handle:
        import yaml  # pylint: disable=import-outside-toplevel

        return yaml.safe_load(handle), topo


def _check_master(opts, topo):
    # salt's client config turns 0.0.0.0 into 127.0.0.1, so that one cannot be told apart.
    interface = str(opts.get("interface", "0.0.0.0"))
    if interface not in ("0.0.0.0", "::", "127.0.0.1", "::1", str(topo.master_address)):
        raise LabError(
            f"the salt-master listens on {interface}; set `interface: {topo.master_address}` "
            "(or 0.0.0.0) so the lab's minions reach it"
        )


def _accept(pki_dir, minion_id, public):
    """Accept exactly this key for ``minion_id`` on the master."""
    for pending in ("minions_pre", "minions_rejected", "minions_denied"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(pki_dir, pending, minion_id))
    accepted = os.path.join(pki_dir, "minions")
    os.makedirs(accepted, exist_ok=True)
    path = os.path.join(accepted, minion_id)
    if read_file(path) != public:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(public)


def _unaccept(pki_dir, minion_id, public):
    if not pki_dir:
        return
    path = os.path.join(pki_dir, "minions", minion_id)
    if read_file(path) == public:
        os.unlink(path)


def _wait_for_minions(opts, topo, timeout, settings):
    """Until every node's minion answers ``test.ping``; a ``lab.down`` meanwhile (a superseded
    candidate's region removed) ends the wait at once."""
    import salt.exceptions  # pylint: disable=import-outside-toplevel

    from releasetrain import saltglue  # pylint: disable=import-outside-toplevel

    wanted = {node.name for node in topo.nodes}
    answered = set()
    deadline = time.monotonic() + timeout
    client = saltglue.local_client(opts)
    try:
        while time.monotonic() < deadline:
            missing = sorted(wanted - answered)
            try:
                ret = client.cmd(missing, "test.ping", tgt_type="list", timeout=3)
            except salt.exceptions.SaltClientError as err:
                raise LabError(f"the salt-master does not answer ({err}); start it, then run lab.up again") from err
            answered |= {minion for minion, value in (ret or {}).items() if value is True}
            if answered == wanted:
                return answered
            if _load_state(settings) is None:
                raise LabError(f"the lab {topo.name!r} was taken down (lab.down) while lab.up waited for its minions")
            time.sleep(1)
    finally:
        client.destroy()
    raise LabError(
        f"minions {', '.join(sorted(wanted - answered))} did not answer test.ping within {timeout:.0f}s; "
        "is the master listening on 0.0.0.0 or the lab's master address? see nodes/*/console.log in the state dir"
    )


STATE_LOCK_WAIT = 3600  # seconds a lab.up or lab.down waits for another one on the same state dir


def _locked(state_dir):
    """Held by lab.up and lab.down on one state dir: a second one waits for the first, then fails in one line."""

    def busy(holder, waited):
        return LabError(f"another lab.up or lab.down ({holder}) has held {state_dir} for {waited:.0f}s; "
                        "try again when it finishes")

    return file_lock(os.path.join(state_dir, ".lock"), STATE_LOCK_WAIT, f"the lab state dir {state_dir}", error=busy)


def _load_state(settings):
    path = os.path.join(settings.state_dir, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise LabError(f"{path}: unreadable lab state ({err}); remove it after cleaning up by hand") from err


def _save_state(settings, state):
    path = os.path.join(settings.state_dir, STATE_FILE)
    with open(f"{path}.tmp", "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.replace(f"{path}.tmp", path)


def read_file(path):
    """The text of ``path``, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None
