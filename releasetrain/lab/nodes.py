"""One lab node: an overlayfs root over the base image, booted by systemd-nspawn.

The node's folder under the state dir holds ``upper``/``work`` (its copy-on-write
layer), ``root`` (the merged mount nspawn boots), its Salt keys, ``console.log``
and ``pid`` (systemd-nspawn's).
"""

import contextlib
import os
import subprocess
import time
import uuid

import psutil
import salt.crypt

from releasetrain.lab import host, network
from releasetrain.lab.errors import LabError

KEY_SIZE = 2048
APT_PROXY_CONF = "/etc/apt/apt.conf.d/01releasetrain-lab-proxy"  # the apt proxy a node (or a layer build) uses


class NodeDirs:
    def __init__(self, state_dir, node):
        self.base = os.path.join(state_dir, "nodes", node.name)
        self.upper = os.path.join(self.base, "upper")
        self.work = os.path.join(self.base, "work")
        self.root = os.path.join(self.base, "root")
        self.keys = os.path.join(self.base, "keys")
        self.pid = os.path.join(self.base, "pid")
        self.console = os.path.join(self.base, "console.log")


def ensure_keys(dirs, node):
    """The node's minion key pair, made on the host once; returns the public key."""
    pub = os.path.join(dirs.keys, "minion.pub")
    if not os.path.exists(pub):
        os.makedirs(dirs.keys, mode=0o700, exist_ok=True)
        private, public = salt.crypt.gen_keys(KEY_SIZE)
        _write(os.path.join(dirs.keys, "minion.pem"), private, 0o400)
        _write(pub, public, 0o644)
    with open(pub, encoding="utf-8") as handle:
        return handle.read()


def ensure_root(dirs, base_root, layer=None):
    """Mount the node's overlay root: the base image below, then its role layer if it has one
    (:mod:`releasetrain.lab.layers`), the node's own layer on top."""
    for path in (dirs.upper, dirs.work, dirs.root):
        os.makedirs(path, exist_ok=True)
    lower = f"{layer}:{base_root}" if layer else base_root
    if not host.mounted(dirs.root):
        host.run("mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={lower},upperdir={dirs.upper},workdir={dirs.work}", dirs.root)


def apt_proxy_url(topology, proxy_port):
    """The lab's apt proxy as the nodes reach it: on the master's mgmt address."""
    return f"http://{topology.master_address}:{proxy_port}/"


def apt_proxy_conf(topology, proxy_port):
    """The apt configuration (``APT_PROXY_CONF``) that sends a node's downloads through that proxy."""
    return f'Acquire::http::Proxy "{apt_proxy_url(topology, proxy_port)}";\n'


def names(topology, node):
    """The files that name the node, by path: its hostname, and its hosts file (the master as
    ``salt``, every node of the topology by its mgmt address)."""
    hosts = ["127.0.0.1 localhost", f"{topology.master_address} salt"]
    hosts += [f"{other.mgmt_address} {other.name}" for other in topology.nodes]
    return {"/etc/hostname": f"{node.name}\n", "/etc/hosts": "\n".join(hosts) + "\n"}


def write_config(dirs, topology, node, master_port, proxy_port, master_pub=None):
    """The node's identity, Salt minion configuration and keys, inside its root."""
    root = dirs.root
    for path, text in names(topology, node).items():
        _write(_in(root, path), text)
    machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, f"{topology.name}.{node.name}.releasetrain").hex
    _write(_in(root, "/etc/machine-id"), f"{machine_id}\n", 0o444)
    _write(_in(root, APT_PROXY_CONF), apt_proxy_conf(topology, proxy_port))
    grains = {"roles": list(node.roles), "releasetrain_lab": topology.name}
    minion = {
        "id": node.name,
        "master": str(topology.master_address),
        "master_port": int(master_port),
        "grains": grains,
        "ipv6": False,
        "acceptance_wait_time": 1,
        "acceptance_wait_time_max": 5,
        "random_reauth_delay": 0,
        "recon_default": 200,
        "recon_max": 2000,
        "master_tries": -1,
        "auth_tries": 30,
        "auth_timeout": 10,
    }
    import salt.utils.yaml  # pylint: disable=import-outside-toplevel

    _write(_in(root, "/etc/salt/minion.d/releasetrain-lab.conf"), salt.utils.yaml.safe_dump(minion, default_flow_style=False))
    pki = _in(root, "/etc/salt/pki/minion")
    os.makedirs(pki, mode=0o700, exist_ok=True)
    for name, mode in (("minion.pem", 0o400), ("minion.pub", 0o644)):
        with open(os.path.join(dirs.keys, name), encoding="utf-8") as handle:
            _write(os.path.join(pki, name), handle.read(), mode)
    if master_pub:
        _write(os.path.join(pki, "minion_master.pub"), master_pub, 0o644)


def boot(dirs, topology, node):
    """Start systemd-nspawn booting the node, unless it already runs."""
    if running(dirs):
        return read_pid(dirs)
    argv = [
        host.which("systemd-nspawn"),
        "--boot",
        f"--directory={dirs.root}",
        f"--network-namespace-path={network.netns_path(topology, node)}",
        "--register=no",
        "--keep-unit",
        f"--hostname={node.name}",
        "--link-journal=no",
        "--console=read-only",
        "--resolv-conf=off",
        "--timezone=off",
        # Neutron's agents make bridges, VXLAN links and iptables rules in the
        # node's own network namespace; nspawn drops CAP_NET_ADMIN unless asked.
        "--capability=CAP_NET_ADMIN",
    ]
    # nspawn mounts /sys before it joins the node's namespace, so by default the
    # node's /sys/class/net lists the host's links (neutron's linuxbridge agent
    # reads bridge members there), and /proc/sys/net is read-only (os-vif writes
    # a new bridge's disable_ipv6 there). "network" gives a sysfs of the node's
    # own namespace and a writable /proc/sys/net; the rest stays read-only.
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="network")
    with open(dirs.console, "ab") as console:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _write(dirs.pid, f"{proc.pid}\n")
    deadline = time.monotonic() + 5
    while not _is_nspawn_of(proc.pid, dirs.root) and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"{node.name}: systemd-nspawn exited at once ({proc.returncode}); see {dirs.console}")
        time.sleep(0.02)
    return proc.pid


def read_pid(dirs):
    return host.read_pid_file(dirs.pid)


def running(dirs):
    """Whether the recorded systemd-nspawn still runs this node's root."""
    pid = read_pid(dirs)
    return bool(pid) and _is_nspawn_of(pid, dirs.root)


def processes(dirs, netns_path):
    """Pids of this node's nspawn and of every process in the node's network namespace.

    The namespace catches the node's processes even when nspawn died and left
    them behind (``/proc/PID/root`` shows ``/`` from the host, so it cannot).
    """
    try:
        netns = os.stat(netns_path)
        netns_id = (netns.st_dev, netns.st_ino)
    except OSError:
        netns_id = None
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if _is_nspawn_argv(proc.info["cmdline"], dirs.root):
            found.append(proc.pid)
        elif netns_id:
            with contextlib.suppress(OSError):  # gone, or a zombie (no namespaces left)
                ns = os.stat(f"/proc/{proc.pid}/ns/net")
                if (ns.st_dev, ns.st_ino) == netns_id:
                    found.append(proc.pid)
    return found


def stop_all(targets, grace=3.0):
    """Power nodes off together (SIGTERM to each nspawn), then kill whatever is left.

    ``targets`` lists ``(NodeDirs, netns path)`` pairs.  A lab node holds
    nothing worth a slow shutdown, so the grace is short.
    """
    for dirs, _ in targets:
        pid = read_pid(dirs)
        if pid and _is_nspawn_of(pid, dirs.root):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).terminate()

    def left():
        procs = []
        for dirs, netns_path in targets:
            for pid in processes(dirs, netns_path):
                with contextlib.suppress(psutil.NoSuchProcess):
                    procs.append(psutil.Process(pid))
        return procs

    # a scan per round: the nodes' processes may still fork while they shut down
    deadline = time.monotonic() + grace
    while (procs := left()) and time.monotonic() < deadline:
        psutil.wait_procs(procs, timeout=min(0.2, max(deadline - time.monotonic(), 0)))
    for _ in range(50):
        procs = left()
        if not procs:
            break
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=0.1)
    for dirs, _ in targets:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dirs.pid)


def unmount(dirs):
    if os.path.isdir(dirs.root) and host.mounted(dirs.root):
        if host.run("umount", dirs.root, check=False).returncode != 0:
            host.run("umount", "-l", dirs.root)


def _is_nspawn_of(pid, root):
    try:
        argv = psutil.Process(pid).cmdline()
    except (psutil.Error, ValueError):
        return False
    return _is_nspawn_argv(argv, root)


def _is_nspawn_argv(argv, root):
    return bool(argv) and argv[0].endswith("systemd-nspawn") and f"--directory={root}" in argv


def _in(root, path):
    return os.path.join(root, path.lstrip("/"))


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a 0400 file from an earlier run
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)
