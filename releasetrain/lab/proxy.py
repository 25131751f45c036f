"""apt-cacher-ng on the master's mgmt address: the nodes' only way to Debian packages.

It runs in the foreground under the lab (its pid in the state dir) and keeps
its package cache in the cache dir, so a second lab downloads nothing.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time

from releasetrain.lab import host
from releasetrain.lab.errors import LabError


class ProxyDirs:
    def __init__(self, state_dir, cache_dir):
        self.state = os.path.join(state_dir, "apt-cacher-ng")
        self.cache = os.path.join(cache_dir, "apt-cacher-ng")
        self.pid = os.path.join(self.state, "pid")
        self.log = os.path.join(self.state, "console.log")


def ensure(dirs, address, port, mirror, timeout=20.0):
    """Start apt-cacher-ng on ``address:port`` unless ours already runs there.

    Debian archive requests go to ``mirror`` (the host's own): the package's
    default backend, used when ``backends_debian`` is empty, may not resolve.
    """
    if running(dirs):
        return read_pid(dirs)
    for path in (dirs.state, dirs.cache):
        os.makedirs(path, exist_ok=True)
    argv = [
        host.which("apt-cacher-ng"),
        "-c",
        "/etc/apt-cacher-ng",
        "ForeGround=1",
        f"CacheDir={dirs.cache}",
        f"LogDir={dirs.state}",
        f"SocketPath={dirs.state}/socket",
        f"PidFile={dirs.state}/acng.pid",
        f"BindAddress={address}",
        f"Port={port}",
        f"Remap-debrep=file:deb_mirror*.gz /debian ; {mirror.rstrip('/')}/",
    ]
    with open(dirs.log, "ab") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    with open(dirs.pid, "w", encoding="utf-8") as handle:
        handle.write(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"apt-cacher-ng exited at once ({proc.returncode}); see {dirs.log}")
        with contextlib.suppress(OSError), socket.create_connection((str(address), port), timeout=1):
            return proc.pid
        time.sleep(0.2)
    raise LabError(f"apt-cacher-ng does not listen on {address}:{port} after {timeout:.0f}s; see {dirs.log}")


def read_pid(dirs):
    return host.read_pid_file(dirs.pid)


def running(dirs):
    pid = read_pid(dirs)
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return False
    return f"CacheDir={dirs.cache}" in argv and argv[0].endswith("apt-cacher-ng")


def stop(dirs, grace=5.0):
    pid = read_pid(dirs)
    if pid and running(dirs):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while running(dirs) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(dirs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dirs.pid)
