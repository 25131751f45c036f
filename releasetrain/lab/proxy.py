"""apt-cacher-ng on the master's mgmt address: the nodes' only way to Debian packages.

It runs in the foreground under the lab (its pid in the state dir) and keeps
its package cache in the cache dir, so a second lab downloads nothing.
"""

import contextlib
import os
import socket
import subprocess
import time

import psutil

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
    return _ours(_process(dirs), dirs)


def _process(dirs):
    pid = read_pid(dirs)
    try:
        return psutil.Process(pid) if pid and pid > 0 else None
    except psutil.Error:
        return None


def _ours(proc, dirs):
    """Whether ``proc`` is our apt-cacher-ng and still runs (a zombie's command line is empty)."""
    try:
        argv = proc.cmdline() if proc else []
    except psutil.Error:
        return False
    return bool(argv) and f"CacheDir={dirs.cache}" in argv and argv[0].endswith("apt-cacher-ng")


def stop(dirs, grace=5.0):
    """SIGTERM our apt-cacher-ng, SIGKILL after ``grace`` seconds; forget its pid."""
    proc = _process(dirs)
    if _ours(proc, dirs):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
        deadline = time.monotonic() + grace
        while _ours(proc, dirs) and time.monotonic() < deadline:
            psutil.wait_procs([proc], timeout=min(0.1, max(deadline - time.monotonic(), 0)))
        if _ours(proc, dirs):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dirs.pid)
