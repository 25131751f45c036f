"""Role layers: a node's packages, installed once by the release's own package states, kept as an
overlayfs layer for the next region that installs the same.

Most of a region's bootstrap is package installation (nova-compute alone pulls libvirt and QEMU).
A candidate region is made from scratch for every patchset, so the review gate can keep what
``openstack.roles.packages`` (every package state of a node's roles, the ``packages`` of
``states/openstack/stages.yaml``) installs on a node, and mount it between the base image and
the node's own layer next time.  The deploy then runs every state as before: its package states
find the packages installed, everything else (configuration, databases, services, checks) runs
in full.

A layer's key is the base image plus the lowstate of those package states rendered for the node, by
``salt-call --local`` in a scratch copy of the base image with the release's own state and pillar
trees: every package name, version pin and repository, and the content of every file of the tree
those states name (``salt://``). A release that installs anything else gets a layer of its own, so
a layer never holds a package or file the release's states would not install. Nothing runs from a
layer while it is built (``policy-rc.d`` refuses every service start). The units the formula starts
itself (``service.running`` with ``enable: true`` in the ``service`` SLS beside each package SLS)
are left disabled in the layer: on a fresh node their packages start them only in their own stage,
just before the formula configures them, while a layered node would boot every one of them with the
packages' defaults at once and crash-loop them until their stage. The formula enables and starts
each in its stage as before; the units it leaves to the packages stay enabled. Those units are part
of the key; when the service SLS do not render, no layers are made (the deploy's precheck halts on
the same render). The release's states run as root, so the render and the build run in the node's
own network namespace, as the node itself does: they reach the lab's apt proxy on the mgmt network
and nothing of the host's. Layers live under ``<cache_dir>/layers``; the newest :data:`KEEP` are
kept.
"""

import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass

from releasetrain.lab import host, image, network, nodes
from releasetrain.lab.errors import LabError
from releasetrain.locking import file_lock

VERSION = 2  # 2: the formula's own units are disabled
SLS = "openstack.roles.packages"
KEEP = 8  # layers kept in the cache (the newest by last use)
BUILD_WAIT = 3600  # seconds to wait for another run's build of the same layer
BUILD_TIMEOUT = 1800
TREES = "/run/releasetrain-layer"  # where the release's trees are mounted in the scratch root
CONFIG = "/etc/salt/minion.d/releasetrain-layer.conf"
POLICY_RC = "/usr/sbin/policy-rc.d"
# what a build leaves in its layer that is not the packages': removed before the layer is kept
SCRATCH = (CONFIG.lstrip("/"), POLICY_RC.lstrip("/"), nodes.APT_PROXY_CONF.lstrip("/"), "etc/salt/pki", "etc/machine-id",
           "etc/hostname", "etc/hosts",
           "var/cache/salt", "var/log/salt", "var/cache/apt/archives", "var/cache/apt/pkgcache.bin",
           "var/cache/apt/srcpkgcache.bin", "run", "tmp", "root/.cache")


@dataclass(frozen=True)
class Source:
    """Where the release's trees are: ``states`` (file_roots) and ``pillar`` (pillar_roots), served
    as environment ``saltenv``."""
    states: str
    pillar: str
    saltenv: str


def root_dir(settings):
    return os.path.join(settings.cache_dir, "layers")


def prepare(settings, topo, nodes, source, base_roots, distribution, log=print):
    """``{node name: layer path}`` for ``nodes`` of ``topo``, each layer built first when it is not
    cached.  ``base_roots`` maps a distribution to its image root, ``distribution(node)`` names a
    node's.  Each node's network namespace must exist (:func:`network.ensure_node`).  Raises a
    one-line :class:`LabError` when a layer cannot be rendered or built."""
    for path in (source.states, source.pillar):
        if not os.path.isdir(path):
            raise LabError(f"role layers: the release's tree {path} is not there")
    for node in nodes:
        if not network.netns_exists(network.netns_name(topo, node)):
            raise LabError(f"role layers: {node.name} has no network namespace {network.netns_name(topo, node)}")
    started = time.monotonic()
    jobs = {node.name: (node, base_roots[distribution(node)]) for node in nodes}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        keys = dict(zip(jobs, pool.map(lambda job: key(settings, topo, job[0], job[1], source), jobs.values())))
        by_key = {}
        for name, (found, units) in keys.items():
            by_key.setdefault(found, (*jobs[name], units))
        built = dict(zip(by_key, pool.map(
            lambda item: ensure(settings, topo, item[1][0], item[1][1], source, item[0], item[1][2], log),
            by_key.items())))
    evict(settings, keep=set(by_key))
    log(f"role layers for {len(jobs)} node(s), {len(by_key)} distinct, ready in {time.monotonic() - started:.0f} s")
    return {name: built[found] for name, (found, _) in keys.items()}


def key(settings, topo, node, base_root, source):
    """``(key, units)`` of ``node``'s layer: the key from its base image, the lowstate of its
    package states and the units its formula starts itself (:func:`formula_units`).  Service states
    that do not render (a broken patchset: its deploy's precheck halts on the same render) raise:
    no layer is built for a candidate that cannot use it."""
    with _scratch(settings) as scratch, _node_root(scratch, base_root, topo, node, source) as call:
        chunks = _lowstate(call(SLS), f"{SLS} does not render for {node.name}")
        services = sorted({f"{chunk['__sls__'].rpartition('.')[0]}.service" for chunk in chunks
                           if str(chunk.get("__sls__", "")).endswith(".package")})
        units = formula_units(_lowstate(call(",".join(services)), f"the service states do not render for {node.name}")
                              ) if services else []
    return digest(os.path.dirname(base_root), chunks, units, files=sources(chunks, source.states)), units


def sources(chunks, states):
    """``{salt:// URL: sha256}`` of every file or folder of the release's state tree ``states`` the
    lowstate names: what a state copies or renders from them is not in the lowstate, so their
    content is part of the key ('absent' when the tree has no such path)."""
    urls, todo = set(), list(chunks)
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, (list, tuple)):
            todo.extend(value)
        elif isinstance(value, str) and value.startswith("salt://"):
            urls.add(value)
    found = {}
    root = os.path.realpath(states)
    for url in sorted(urls):
        path = os.path.realpath(os.path.join(root, url[len("salt://"):].split("?", 1)[0].lstrip("/")))
        found[url] = _tree_digest(path, root) if path == root or path.startswith(root + os.sep) else "outside"
    return found


def _tree_digest(path, root):
    if not os.path.exists(path):
        return "absent"
    files = [path] if not os.path.isdir(path) else sorted(
        os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names)
    sha = hashlib.sha256()
    for name in files:
        sha.update(os.path.relpath(name, path).encode() + b"\0")
        real = os.path.realpath(name)
        if not (real.startswith(root + os.sep) and os.path.isfile(real)):
            sha.update(b"not a file of the tree")  # a link out of it, a device, a fifo: never read
            continue
        with open(real, "rb") as handle:
            sha.update(hashlib.file_digest(handle, "sha256").digest())
    return sha.hexdigest()


def formula_units(chunks):
    """The units a lowstate starts and enables itself (``service.running`` with ``enable``)."""
    return sorted({chunk["name"] for chunk in chunks if chunk.get("state") == "service"
                   and chunk.get("fun") == "running" and chunk.get("enable") and isinstance(chunk.get("name"), str)})


def digest(base_image, chunks, units=(), files=None):
    """A layer's key from its base image's folder, its package states' lowstate (without the run's
    own bookkeeping: the environment, the order), the units it leaves disabled and the content of
    the tree's ``files`` the states name (:func:`sources`)."""
    lowstate = sorted(({k: v for k, v in chunk.items() if k != "order" and (not k.startswith("__") or k == "__id__")}
                       for chunk in chunks if isinstance(chunk, dict)), key=lambda c: json.dumps(c, sort_keys=True))
    data = {"version": VERSION, "base": os.path.basename(os.path.normpath(base_image)), "lowstate": lowstate,
            "disabled": sorted(units), "files": files or {}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _lowstate(out, what):
    chunks = out.get("local") if isinstance(out, dict) else None
    if not isinstance(chunks, list) or not all(isinstance(chunk, dict) for chunk in chunks):
        raise LabError(f"role layers: {what}: {_first_line(chunks)}")
    return chunks


def is_ready(settings, found):
    return os.path.exists(os.path.join(root_dir(settings), found, "ready.json"))


def ensure(settings, topo, node, base_root, source, found, units=(), log=print):
    """The layer ``found``: built from ``node``'s package states, with ``units`` disabled, unless
    cached; its path."""
    final = os.path.join(root_dir(settings), found)
    os.makedirs(root_dir(settings), exist_ok=True)
    with file_lock(f"{final}.lock", BUILD_WAIT, f"role layer {found}"):
        if not is_ready(settings, found):
            _build(settings, topo, node, base_root, source, final, units, log)
        os.utime(os.path.join(final, "ready.json"))  # last use, for eviction
    return os.path.join(final, "upper")


def _build(settings, topo, node, base_root, source, final, units, log):
    started = time.monotonic()
    log(f"role layer {os.path.basename(final)}: installing {node.name}'s packages ({', '.join(node.roles)})")
    with _scratch(settings) as scratch:
        with _node_root(scratch, base_root, topo, node, source, proxy_port=settings.proxy_port) as call:
            failed = _failures(call(SLS, function="state.sls", timeout=BUILD_TIMEOUT))
            if failed:
                raise LabError(f"role layers: {SLS} failed for {node.name}: {failed}")
            for unit in units:  # the formula starts each in its stage; a unit the packages lack is no fault
                host.run("systemctl", f"--root={scratch['root']}", "--quiet", "disable", unit, check=False)
        for path in SCRATCH:
            target = os.path.join(scratch["upper"], path)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.unlink(target)
        shutil.rmtree(final, ignore_errors=True)
        os.makedirs(final)
        os.rename(scratch["upper"], os.path.join(final, "upper"))
    ready = {"key": os.path.basename(final), "node": node.name, "roles": list(node.roles),
             "base": os.path.dirname(base_root), "disabled": list(units),
             "seconds": round(time.monotonic() - started, 1)}
    with open(os.path.join(final, "ready.json"), "w", encoding="utf-8") as handle:
        json.dump(ready, handle)
    log(f"role layer {ready['key']} built in {ready['seconds']:.0f} s")


def _failures(out):
    """The first failed state of a ``state.sls`` return (in run order, one whose own work failed
    before one whose requisites did), as one line: its id and its first error line (apt's ``E:``
    line when there is one); '' when all succeeded."""
    states = out.get("local") if isinstance(out, dict) else None
    if not isinstance(states, dict) or not states:
        return _first_line(states)
    failed = [(state_id, ret) for state_id, ret in states.items() if not isinstance(ret, dict) or ret.get("result") is not True]
    if not failed:
        return ""
    failed.sort(key=lambda item: (isinstance(item[1], dict) and "requisite failed" in str(item[1].get("comment")),
                                  item[1].get("__run_num__", 0) if isinstance(item[1], dict) else 0))
    state_id, ret = failed[0]
    comment = ret.get("comment") if isinstance(ret, dict) else ret
    text = comment if isinstance(comment, str) else _first_line(comment)
    errors = [line.strip() for line in text.splitlines() if line.strip().startswith(("E:", "W:"))]
    return f"{state_id.split('_|-')[1] if '_|-' in state_id else state_id}: {errors[0][:300] if errors else _first_line(text)}"


def _first_line(value):
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, list) and value:
        text = str(value[0])
    return (text.strip().splitlines() or ["(nothing)"])[0][:300]


def evict(settings, keep=()):
    """Remove all but the :data:`KEEP` most recently used layers (never one in ``keep`` or mounted),
    and scratch folders a killed build left."""
    folder = root_dir(settings)
    if not os.path.isdir(folder):
        return []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        mounts = handle.read()
    ready = []
    for name in os.listdir(folder):
        scratch = os.path.join(folder, name)
        if name.startswith(".scratch-") and scratch not in mounts and time.time() - os.path.getmtime(scratch) > BUILD_TIMEOUT:
            shutil.rmtree(scratch, ignore_errors=True)  # left by a run killed while it built or rendered
            continue
        marker = os.path.join(folder, name, "ready.json")
        if os.path.exists(marker):
            ready.append((os.path.getmtime(marker), name))
    removed = []
    for _, name in sorted(ready, reverse=True)[KEEP:]:
        if name in keep or os.path.join(folder, name) in mounts:
            continue
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        removed.append(name)
    return removed


@contextlib.contextmanager
def _scratch(settings):
    """A scratch overlay's folders (upper, work, root) under the layers' folder, removed afterwards."""
    base = os.path.join(root_dir(settings), f".scratch-{uuid.uuid4().hex[:10]}")
    dirs = {part: os.path.join(base, part) for part in ("upper", "work", "root")}
    for path in dirs.values():
        os.makedirs(path)
    try:
        yield dirs
    finally:
        if host.mounted(dirs["root"]):
            host.run("umount", "-l", dirs["root"], check=False)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _node_root(scratch, base_root, topo, node, source, proxy_port=None):
    """The scratch overlay over ``base_root``, mounted and configured as ``node``, for as long as
    the block runs; yields ``call(sls, function="state.show_low_sls", timeout=300)``: that
    ``salt-call --local`` in it, its JSON return."""
    # the node's addresses, as the master's releasetrain_lab ext_pillar gives them to its minion
    from releasetrain.lab.pillar import region_pillar  # pylint: disable=import-outside-toplevel  (it imports region)

    addresses = "pillar=" + json.dumps(region_pillar(topo))
    _mount(scratch, base_root)
    try:
        _configure(scratch["root"], topo, node, source, proxy_port=proxy_port)
        yield lambda sls, function="state.show_low_sls", timeout=300: _salt_call(
            scratch["root"], source, node, network.netns_path(topo, node), function, sls, addresses, timeout=timeout)
    finally:
        _unmount(scratch)


def _mount(scratch, base_root):
    host.run("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={base_root},upperdir={scratch['upper']},workdir={scratch['work']}", scratch["root"])


def _unmount(scratch):
    if host.mounted(scratch["root"]):
        host.run("umount", scratch["root"])


def _configure(root, topo, node, source, proxy_port=None):
    """A masterless minion that is ``node`` (its id and roles grain) serving the release's trees."""
    import salt.utils.yaml  # pylint: disable=import-outside-toplevel

    env = source.saltenv
    config = {
        "id": node.name, "file_client": "local", "saltenv": env, "pillarenv": env, "ipv6": False,
        "file_roots": {env: [f"{TREES}/states"]}, "pillar_roots": {env: [f"{TREES}/pillar"]},
        "grains": {"roles": list(node.roles), "releasetrain_lab": topo.name},
    }
    image.write_in(root, CONFIG, salt.utils.yaml.safe_dump(config, default_flow_style=False))
    for path, text in nodes.names(topo, node).items():  # maintainer scripts ask for the host's name (hostname -f)
        image.write_in(root, path, text)
    image.write_in(root, POLICY_RC, "#!/bin/sh\n# a role layer is being built: no service starts\nexit 101\n", 0o755)
    if proxy_port:
        image.write_in(root, nodes.APT_PROXY_CONF, nodes.apt_proxy_conf(topo, proxy_port))


def _salt_call(root, source, node, netns, *args, timeout):
    proc = host.run(
        "systemd-nspawn", "-q", "-D", root, "--register=no", "--keep-unit", "--link-journal=no",
        f"--network-namespace-path={netns}", "--resolv-conf=off", f"--hostname={node.name}",
        f"--bind-ro={os.path.realpath(source.states)}:{TREES}/states",
        f"--bind-ro={os.path.realpath(source.pillar)}:{TREES}/pillar",
        "--setenv=DEBIAN_FRONTEND=noninteractive",
        f"{image.SALT_VENV}/bin/salt-call", "--local", "--out=json", "--log-level=quiet", *args,
        check=False, timeout=timeout,
    )
    try:
        return json.loads(proc.stdout)
    except ValueError:
        detail = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise LabError(f"role layers: salt-call {args[0]} gave no result ({proc.returncode}): {detail}") from None

