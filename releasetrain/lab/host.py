"""What the lab needs from the host (root, Linux, tools) and how it runs commands."""

import os
import shutil
import subprocess
import sys

from releasetrain.lab.errors import LabError

# tool -> the Debian package that provides it
TOOLS = {
    "ip": "iproute2",
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "apt-cacher-ng": "apt-cacher-ng",
    "mount": "mount",
}
SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def missing():
    """Why the lab cannot run here, as one line, or ``None`` when it can."""
    if not sys.platform.startswith("linux"):
        return f"the lab needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, bridges, mounts, containers)"
    absent = sorted({pkg for tool, pkg in TOOLS.items() if not which(tool)})
    if absent:
        return f"the lab needs these Debian packages: apt-get install {' '.join(absent)}"
    if not os.path.isdir("/sys/fs/cgroup"):
        return "the lab needs a mounted /sys/fs/cgroup for systemd-nspawn"
    return None


def require():
    """Raise a one-line :class:`LabError` unless the lab can run here."""
    problem = missing()
    if problem:
        raise LabError(problem)


def which(tool):
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(tool, path=path)


def run(*args, check=True, input=None, timeout=600):
    """Run a host command; on failure raise a one-line :class:`LabError`."""
    argv = [which(args[0]) or args[0], *map(str, args[1:])]
    try:
        proc = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LabError(f"{' '.join(argv)}: {err}") from err
    if check and proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout).split())[-400:]
        raise LabError(f"{' '.join(map(str, args))} failed ({proc.returncode}): {detail}")
    return proc


def mounted(path):
    """Whether ``path`` is a mount point (reads /proc/self/mountinfo)."""
    return path in mount_points()


def mount_points():
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            points.append(line.split()[4].replace("\\040", " "))
    return points


def read_pid_file(path):
    """The pid a lab process recorded in ``path``, or None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None
