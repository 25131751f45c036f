"""Proof that a region boots a server: Glance, Nova, Neutron, libvirt and QEMU together.

A 1 MiB raw image whose boot sector writes one line to COM1 (built here: nothing is
downloaded), a 64 MB flavor and a VXLAN tenant network are made on the controller (or
reused: they are found by name), a server named :data:`SERVER` is created afresh on them
(one left by an earlier run is deleted first), and the line is looked for in its console
log (``openstack console log show``): QEMU ran the guest (TCG: no KVM in a lab node).

Every step is a shell command on the controller, given to a ``run(script, timeout)``
callable that returns a :class:`subprocess.CompletedProcess` (``returncode``, ``stdout``,
``stderr``): the demo passes ``salt CONTROLLER cmd.run_all``, the region tests ``nsenter``.
A failure raises :class:`GuestBootError` with one line naming what failed.
"""

import base64
import hashlib
import json
import shlex
import struct
import time

GUEST_SAYS = b"releasetrain guest booted"
IMAGE_SIZE = 1 << 20
PARTITION_TABLE = 446  # where the MBR's partition entries start
OPENRC = "/root/admin-openrc"
FLAVOR = "releasetrain-tiny"  # 64 MB, 1 GB disk, 1 vCPU
NETWORK = "releasetrain-net"  # the default tenant network type: VXLAN
SUBNET = "releasetrain-subnet"
SUBNET_RANGE = "192.168.77.0/24"
SERVER = "releasetrain-server"
IMAGE_ACTIVE_TIMEOUT = 180
SERVER_ACTIVE_TIMEOUT = 900
SERVER_DELETE_TIMEOUT = 300
CONSOLE_TIMEOUT = 180
POLL_INTERVAL = 5
COMMAND_TIMEOUT = 300


class GuestBootError(Exception):
    """The server did not boot or its guest did not run; ``str()`` is the one line to show."""


def boot_sector(message):
    """A disk image: a boot sector whose 16-bit code writes ``message`` (bytes) to the first serial
    port, which Nova keeps as the server's console log, then halts; zeros up to 1 MiB.

    The sector is a whole-disk MBR with one active partition over the rest of the disk: Nova's
    image safety check (since 2024.1, oslo.utils' format inspector) refuses an MBR that defines
    no partition ("GPT MBR has no partitions defined"), so a bare boot sector no longer boots."""
    code = bytes([
        0xFA, 0xFC,                  # cli; cld
        0x31, 0xC0, 0x8E, 0xD8,      # xor ax, ax; mov ds, ax
        0xBE, 0x17, 0x7C,            # mov si, 0x7c17 (the message, right after this code)
        0xBA, 0xF8, 0x03,            # mov dx, 0x3f8 (COM1)
        0xAC, 0x84, 0xC0, 0x74, 0x03,  # next: lodsb; test al, al; jz halt
        0xEE, 0xEB, 0xF8,            # out dx, al; jmp next
        0xF4, 0xEB, 0xFD,            # halt: hlt; jmp halt
    ])
    sector = code + message + b"\r\n\0"
    if len(sector) > PARTITION_TABLE:
        raise ValueError(f"the message is {len(message)} bytes; at most {PARTITION_TABLE - len(code) - 3} "
                         "fit in a boot sector")
    return (sector.ljust(PARTITION_TABLE, b"\0") + partition_table() + b"\x55\xaa").ljust(IMAGE_SIZE, b"\0")


def partition_table():
    """The MBR's four entries: the first an active Linux partition (type 0x83) from LBA 1 to the
    end of the image, CHS 0/2/0 at its start, the others empty."""
    sectors = IMAGE_SIZE // 512
    first = struct.pack("<B3BB3BII", 0x80, 0x00, 0x02, 0x00, 0x83, 0xFE, 0xFF, 0xFF, 1, sectors - 1)
    return first + bytes(16 * 3)


def image_name(message):
    """The image's name carries a hash of its content, so an image found by name says ``message``."""
    return "releasetrain-boot-" + hashlib.sha256(boot_sector(message)).hexdigest()[:8]


def write_image_script(path, message):
    """A shell command that writes :func:`boot_sector` of ``message`` to ``path`` (on the controller)."""
    sector = base64.b64encode(boot_sector(message)[:512]).decode()
    target = shlex.quote(path)
    return f"echo {sector} | base64 -d > {target} && truncate -s {IMAGE_SIZE} {target}"


class Controller:
    """The OpenStack client on the controller, as admin, through ``run``."""

    def __init__(self, run):
        self.run = run

    def shell(self, script, what, timeout=COMMAND_TIMEOUT):
        """Run ``script``; its stdout, or :class:`GuestBootError` naming ``what`` with its last line of error."""
        result = self.run(script, timeout)
        if result.returncode != 0:
            said = [line.strip() for line in (result.stderr.strip() or result.stdout).splitlines() if line.strip()]
            raise GuestBootError(f"{what} failed on the controller (exit {result.returncode}): "
                                 f"{said[-1] if said else '(no output)'}")
        return result.stdout

    def openstack(self, *args, parse=True, timeout=COMMAND_TIMEOUT):
        """``openstack ARGS`` (``-f json`` and parsed unless ``parse`` is false)."""
        command = shlex.join(["openstack", *args, *(["-f", "json"] if parse else [])])
        out = self.shell(f". {OPENRC} && {command}", repr(command), timeout=timeout)
        if not parse:
            return out
        try:
            return json.loads(out)
        except ValueError as err:
            raise GuestBootError(f"{command!r} printed no JSON: {out.strip()[-200:]!r}") from err

    def named(self, kind, name):
        """The ``openstack KIND list`` entries called ``name`` (names need not be unique)."""
        return [entry for entry in self.openstack(kind, "list") if entry["Name"] == name]


def wait_for(what, check, timeout):
    """Poll ``check()`` until it returns something true; :class:`GuestBootError` naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise GuestBootError(f"{what} within {timeout} s")
        time.sleep(POLL_INTERVAL)


def ensure_image(cloud, message, say):
    """An active image of :func:`boot_sector`; one with the name that is not active is replaced."""
    name = image_name(message)
    images = cloud.named("image", name)
    if any(image["Status"] == "active" for image in images):
        say(f"image {name}: reused")
        return name
    for image in images:
        cloud.openstack("image", "delete", image["ID"], parse=False)
    path = f"/root/{name}.img"
    cloud.shell(write_image_script(path, message), f"writing {path}")
    created = cloud.openstack("image", "create", "--file", path, "--disk-format", "raw",
                              "--container-format", "bare", name)

    # the client returns the image as created, before its upload settles
    def active():
        status = cloud.openstack("image", "show", created["id"])["status"]
        if status in ("killed", "deleted"):
            raise GuestBootError(f"image {name} went to {status}")
        return status == "active"

    wait_for(f"image {name} did not become active", active, IMAGE_ACTIVE_TIMEOUT)
    say(f"image {name}: created ({IMAGE_SIZE} bytes, raw)")
    return name


def ensure_flavor(cloud, say):
    if cloud.named("flavor", FLAVOR):
        say(f"flavor {FLAVOR}: reused")
        return
    cloud.openstack("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", FLAVOR)
    say(f"flavor {FLAVOR}: created (64 MB, 1 vCPU)")


def ensure_network(cloud, say):
    networks = cloud.named("network", NETWORK)
    if networks and networks[0]["Subnets"]:
        say(f"network {NETWORK}: reused")
        return networks[0]["ID"]
    network = networks[0] if networks else cloud.openstack("network", "create", NETWORK)
    network_id = network.get("ID") or network["id"]
    cloud.openstack("subnet", "create", "--network", network_id, "--subnet-range", SUBNET_RANGE, SUBNET)
    network = cloud.openstack("network", "show", network_id)
    say(f"network {NETWORK}: created ({network.get('provider:network_type') or 'default type'}, {SUBNET_RANGE})")
    return network_id


def delete_old_servers(cloud, say):
    """Servers called :data:`SERVER` from an earlier run are deleted, so the boot is proven afresh.
    Not ``server delete --wait``: its polls reuse the connection of the DELETE, which Nova's uwsgi
    API reset once in the lab; each poll here is a new client."""
    old = [server["ID"] for server in cloud.named("server", SERVER)]
    if not old:
        return
    cloud.openstack("server", "delete", *old, parse=False)
    left = []

    def gone():
        left[:] = [f"{server['ID']} ({server['Status']})" for server in cloud.named("server", SERVER)]
        return not left

    try:
        wait_for(f"server {SERVER} of an earlier run was not deleted", gone, SERVER_DELETE_TIMEOUT)
    except GuestBootError as err:
        raise GuestBootError(f"{err} (still there: {', '.join(left)})") from err
    say(f"server {SERVER}: deleted the one an earlier run left")


def server_state(server):
    """``True`` when ACTIVE, ``False`` while building; :class:`GuestBootError` on ERROR (with Nova's fault)."""
    status = server["status"]
    if status == "ACTIVE":
        return True
    if status == "ERROR":
        fault = server.get("fault") or {}
        reason = fault.get("message", "no fault recorded") if isinstance(fault, dict) else str(fault)
        host = server.get("OS-EXT-SRV-ATTR:host") or "no host"
        raise GuestBootError(f"server {SERVER} went to ERROR on {host}: {reason}")
    if status != "BUILD":
        raise GuestBootError(f"server {SERVER} is {status}, not ACTIVE")
    return False


def console_line(console, message):
    """The line of the console log that holds ``message``, or ``None``."""
    text = message.decode()
    return next((line.strip() for line in console.splitlines() if text in line), None)


def create_server(cloud, image, network_id, say):
    """Create the server (without ``--wait``: it exits 0 on ERROR) and wait until it is ACTIVE."""
    started = time.monotonic()
    created = cloud.openstack("server", "create", "--image", image, "--flavor", FLAVOR, "--nic",
                              f"net-id={network_id}", SERVER)
    server_id = created["id"]
    shown = {}

    def active():
        shown.update(cloud.openstack("server", "show", server_id))
        return server_state(shown)

    try:
        wait_for(f"server {SERVER} did not become ACTIVE", active, SERVER_ACTIVE_TIMEOUT)
    except GuestBootError as err:
        if shown.get("status") == "BUILD":
            raise GuestBootError(f"{err} (still BUILD, task state {shown.get('OS-EXT-STS:task_state')})") from err
        raise
    host = shown.get("OS-EXT-SRV-ATTR:host")
    say(f"server {SERVER} ({server_id}): ACTIVE on {host} after {time.monotonic() - started:.0f} s")
    return server_id, host


def read_guest_line(cloud, server_id, message, say):
    """Wait for ``message`` in the server's console log; return that line."""
    seen = {"console": ""}

    def said():
        seen["console"] = cloud.openstack("console", "log", "show", server_id, parse=False)
        return console_line(seen["console"], message)

    try:
        line = wait_for(f"the console log of server {SERVER} does not show {message.decode()!r}", said,
                         CONSOLE_TIMEOUT)
    except GuestBootError as err:
        lines = [text.strip() for text in seen["console"].splitlines() if text.strip()]
        raise GuestBootError(f"{err} (its last line: {lines[-1][:200] if lines else '(empty)'!r})") from err
    say(f"console of {SERVER}: {line}")
    return line


def boot(run, message=GUEST_SAYS, say=print):
    """Boot the guest on the region behind ``run``; returns ``{"server", "host", "line"}``."""
    cloud = Controller(run)
    image = ensure_image(cloud, message, say)
    ensure_flavor(cloud, say)
    network_id = ensure_network(cloud, say)
    delete_old_servers(cloud, say)
    server_id, host = create_server(cloud, image, network_id, say)
    line = read_guest_line(cloud, server_id, message, say)
    return {"server": server_id, "host": host, "line": line}
