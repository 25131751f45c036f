"""The cached base images: one Debian root per distribution, made once by debootstrap, with Salt.

Every node mounts its distribution's image read-only as the lower layer of its
overlayfs, so a new node costs seconds.  An image's folder name carries a
hash of its recipe, so a new Salt version, suite or mirror makes a new image
instead of reusing a stale one.

The minion is independent of the node's own Python: ``/opt/salt`` holds a
Python of its own (the ``RUNTIME_SUITE`` image's interpreter and standard
library, copied) with Salt in its ``dist-packages``.  It is built once in the
``RUNTIME_SUITE`` image and copied into every other distribution's image, so
the same minion runs on bookworm and trixie nodes, and a node's distribution
upgrade, which removes the old release's python3.11, leaves it working: it
needs only the C libraries whose sonames both releases share (libc, libz,
libexpat, libssl3, libffi8, ...).
"""

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time

from releasetrain.lab import host
from releasetrain.lab.errors import LabError
from releasetrain.locking import file_lock

LOCK_WAIT = 3600  # seconds a lab.up waits for another one's image build (a debootstrap is allowed 1800)

RECIPE_VERSION = 2
RUNTIME_SUITE = "bookworm"  # the minion's Python comes from this distribution's image
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "iputils-ping",
    "procps",
    "ca-certificates",
    "python3-venv",
)
# Units a throwaway lab node has no use for; masked so nodes boot faster.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "console-getty.service",
    "systemd-networkd-wait-online.service",
)
# dpkg on a throwaway node: no fsync of every unpacked file (about 7 ms each on this host's disk,
# minutes of a bootstrap or a distribution upgrade); what the packages install is the same.
DPKG_CONFIG = ("/etc/dpkg/dpkg.cfg.d/releasetrain-lab",
               "# a throwaway lab node: dpkg need not survive a power cut of the host\nforce-unsafe-io\n")
SALT_VENV = "/opt/salt"
MINION_UNIT = f"""\
[Unit]
Description=Salt minion (releasetrain lab)
After=network.target

[Service]
ExecStart={SALT_VENV}/bin/salt-minion
Restart=always
RestartSec=2
KillMode=process

[Install]
WantedBy=multi-user.target
"""


def recipe(settings, suite):
    return {
        "version": RECIPE_VERSION,
        "suite": suite,
        # another distribution's image copies the runtime's minion: a new runtime makes a new image
        "runtime": None if suite == RUNTIME_SUITE else image_dir(settings, RUNTIME_SUITE),
        "mirror": settings.mirror,
        "security_mirror": settings.security_mirror,
        "salt": settings.salt_version,
        "packages": list(PACKAGES),
        "masked": list(MASKED_UNITS),
        "unit": MINION_UNIT,
        "dpkg": list(DPKG_CONFIG),
    }


def image_dir(settings, suite):
    digest = hashlib.sha256(json.dumps(recipe(settings, suite), sort_keys=True).encode()).hexdigest()
    return os.path.join(settings.cache_dir, "images", f"{suite}-salt{settings.salt_version}-{digest[:10]}")


def root(settings, suite):
    return os.path.join(image_dir(settings, suite), "root")


def is_ready(settings, suite):
    return os.path.exists(os.path.join(image_dir(settings, suite), "ready.json"))


def ensure(settings, suite, log=print):
    """The root folder of ``suite``'s base image; built first if it is not in the cache."""
    final = image_dir(settings, suite)
    if is_ready(settings, suite):
        return os.path.join(final, "root")
    runtime = None if suite == RUNTIME_SUITE else ensure(settings, RUNTIME_SUITE, log)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    with _locked(os.path.dirname(final)):
        if not is_ready(settings, suite):  # another lab.up may have built it meanwhile
            _build(settings, suite, final, runtime, log)
    return os.path.join(final, "root")


def _locked(folder):
    """Held while the base image is built: another lab.up waits (a debootstrap takes minutes), then fails in one line."""
    return file_lock(os.path.join(folder, ".lock"), LOCK_WAIT, f"the lab's base image in {folder}", error=_busy)


def _busy(holder, waited):
    return LabError(f"the lab's base image is being built by {holder}; waited {waited:.0f}s, try again when it is done")


def _build(settings, suite, final, runtime, log):
    """debootstrap ``suite``, then Salt: installed (the runtime's suite) or copied from ``runtime``'s image root."""
    started = time.monotonic()
    building = f"{final}.building"
    shutil.rmtree(building, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    os.makedirs(building)
    rootfs = os.path.join(building, "root")
    log(f"debootstrap {suite} from {settings.mirror} (once; cached in {final})")
    host.run(
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        rootfs,
        settings.mirror,
        timeout=1800,
    )
    if runtime is None:
        _install_salt(settings, rootfs, log)
        _make_standalone(rootfs)
    else:
        log(f"copying the minion's runtime ({SALT_VENV}) from the {RUNTIME_SUITE} image")
        shutil.copytree(os.path.join(runtime, SALT_VENV.lstrip("/")), os.path.join(rootfs, SALT_VENV.lstrip("/")),
                        symlinks=True)
    _configure(settings, suite, rootfs)
    with open(os.path.join(building, "ready.json"), "w", encoding="utf-8") as handle:
        json.dump({**recipe(settings, suite), "seconds": round(time.monotonic() - started, 1)}, handle)
    os.rename(building, final)


def _make_standalone(rootfs):
    """Turn the venv in ``SALT_VENV`` into a Python of its own: the image's interpreter and standard
    library are copied in, and Salt moves to the ``dist-packages`` that Debian's Python searches under
    its prefix.  Python finds its prefix from its own path (``lib/python3.X/os.py`` beside ``bin/``)."""
    version = _image_python(rootfs)
    salt = os.path.join(rootfs, SALT_VENV.lstrip("/"))
    for name in ("pyvenv.cfg", "bin/python", "bin/python3", f"bin/python{version}"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(salt, name))
    shutil.copy2(os.path.join(rootfs, "usr/bin", f"python{version}"), os.path.join(salt, "bin", f"python{version}"))
    os.symlink(f"python{version}", os.path.join(salt, "bin", "python3"))
    os.symlink("python3", os.path.join(salt, "bin", "python"))
    stdlib = os.path.join(salt, "lib", f"python{version}")
    os.makedirs(os.path.join(salt, "lib", "python3"))
    os.rename(os.path.join(stdlib, "site-packages"), os.path.join(salt, "lib", "python3", "dist-packages"))
    shutil.rmtree(stdlib)
    shutil.copytree(os.path.join(rootfs, "usr/lib", f"python{version}"), stdlib, symlinks=True)


def _image_python(rootfs):
    """``major.minor`` of the image's python3, from its ``/usr/lib/python3.X`` folder."""
    for name in sorted(os.listdir(os.path.join(rootfs, "usr/lib"))):
        if name.startswith("python3.") and os.path.isdir(os.path.join(rootfs, "usr/lib", name, "encodings")):
            return name[len("python"):]
    raise LabError(f"no python3 in the base image {rootfs}")


def _install_salt(settings, rootfs, log):
    """Salt from PyPI into a venv of the image.

    When the host's Python matches the image's, the host's pip builds the
    wheels (it sees the same index and caches); otherwise pip runs in the image
    with the host's network.
    """
    requirement = f"salt=={settings.salt_version}"
    host_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    nspawn = ["systemd-nspawn", "-q", "-D", rootfs, "--register=no", "--keep-unit", "--link-journal=no"]
    venv = f"python3 -m venv {SALT_VENV}"
    if host_python == _image_python(rootfs):
        wheels = os.path.join(settings.cache_dir, "wheels", f"salt-{settings.salt_version}-py{host_python}")
        if not os.path.isdir(wheels):
            log(f"pip wheel {requirement} (host Python {host_python})")
            host.run(sys.executable, "-m", "pip", "wheel", "-q", requirement, "-w", f"{wheels}.tmp", timeout=1800)
            os.rename(f"{wheels}.tmp", wheels)
        host.run(
            *nspawn,
            "--private-network",
            f"--bind-ro={wheels}:/run/releasetrain-wheels",
            "sh",
            "-c",
            f"{venv} && {SALT_VENV}/bin/pip install -q --no-index --find-links /run/releasetrain-wheels {requirement}",
            timeout=1800,
        )
    else:
        log(f"pip install {requirement} inside the image")
        host.run(*nspawn, "sh", "-c", f"{venv} && {SALT_VENV}/bin/pip install -q {requirement}", timeout=1800)


def write_in(rootfs, path, text, mode=0o644):
    """Write ``text`` to ``path`` inside the root folder ``rootfs`` (folders made as needed)."""
    target = os.path.join(rootfs, path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(target, mode)


def _configure(settings, suite, rootfs):
    write_in(
        rootfs,
        "/etc/apt/sources.list",
        f"deb {settings.mirror} {suite} main\ndeb {settings.mirror} {suite}-updates main\n"
        f"deb {settings.security_mirror} {suite}-security main\n",
    )
    write_in(rootfs, "/etc/systemd/system/salt-minion.service", MINION_UNIT)
    write_in(rootfs, *DPKG_CONFIG)
    wants = os.path.join(rootfs, "etc/systemd/system/multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    os.symlink("/etc/systemd/system/salt-minion.service", os.path.join(wants, "salt-minion.service"))
    for unit in MASKED_UNITS:
        link = os.path.join(rootfs, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    # Each node writes its own machine-id and hostname into its overlay.
    write_in(rootfs, "/etc/machine-id", "")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(rootfs, "etc/hostname"))
    shutil.rmtree(os.path.join(rootfs, "var/cache/apt/archives"), ignore_errors=True)
    os.makedirs(os.path.join(rootfs, "var/cache/apt/archives/partial"), exist_ok=True)
