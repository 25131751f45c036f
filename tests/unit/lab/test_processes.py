"""Finding and stopping the lab's and the demo's processes (psutil): real child processes that
pose as salt-master, systemd-nspawn or apt-cacher-ng (argv[0] and the arguments they are
recognised by), some of which ignore SIGTERM, so only SIGKILL ends them."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import types

import psutil
import pytest
import yaml

from releasetrain.lab import demo, nodes, proxy
from tests.support.lab import LabRegion

#: A process that says "ready" once its SIGTERM handling is set, then sleeps.
SLEEPER = """
import signal, sys, time
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
"""
#: A salt-master's main process: starts a child posing as it does (same argv[0] and arguments);
#: on SIGTERM it stops the child, then exits. It prints the child's pid when ready.
MAIN = """
import signal, subprocess, sys, time
argv0 = open("/proc/self/cmdline", "rb").read().split(b"\\0")[0].decode()
child = subprocess.Popen([argv0, "-c", SLEEPER, "default", *sys.argv[2:]], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
def stop(*_):
    child.terminate()
    child.wait()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(child.pid, flush=True)
time.sleep(120)
""".replace("SLEEPER", repr(SLEEPER))


@pytest.fixture
def spawn(tmp_path_factory):
    """``spawn(name, *args, ignore_term=False, code=SLEEPER)``: a started Python child posing as
    ``name`` (its argv[0] is a link of that name to Python); returns its Popen once it is ready
    (``.ready``: what it printed first). Whatever is left (and a MAIN's child) is killed at the end."""
    started = []
    links = tmp_path_factory.mktemp("bin")

    def _spawn(name, *args, ignore_term=False, code=SLEEPER):
        argv0 = links / name
        if not argv0.exists():
            argv0.symlink_to(os.path.realpath(sys.executable))  # the real one: no venv, the stdlib only
        mode = "ignore-term" if ignore_term else "default"
        proc = subprocess.Popen([str(argv0), "-c", code, mode, *args],  # noqa: S603
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        proc.ready = proc.stdout.readline().strip()
        proc.grandchild = psutil.Process(int(proc.ready)) if proc.ready.isdigit() else None
        return proc

    yield _spawn
    for proc in started:
        if proc.grandchild:
            with contextlib.suppress(psutil.Error):
                proc.grandchild.kill()  # psutil checks it is still that process
        proc.kill()
        proc.wait()
        proc.stdout.close()


def reaped(proc):
    """Whether ``proc`` (our child) has ended; psutil may have reaped it already."""
    return not psutil.pid_exists(proc.pid) or proc.poll() is not None


# demo: the salt-master it started

@pytest.fixture
def master_dir(tmp_path):
    """A demo config dir: ``master`` naming its pidfile."""
    (tmp_path / "run").mkdir()
    (tmp_path / "master").write_text(yaml.safe_dump({"pidfile": str(tmp_path / "run" / "salt-master.pid")}))
    return str(tmp_path)


def salt_master(spawn, config_dir, **kwargs):
    return spawn("salt-master", "-c", config_dir, **kwargs)


def test_alive_is_false_for_a_zombie_and_a_gone_pid(spawn):
    proc = spawn("sleeper")
    assert demo._alive(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not demo._alive(proc.pid)  # not reaped yet: a zombie
    proc.wait()
    assert not demo._alive(proc.pid)
    assert not demo._alive(0) and not demo._alive(-1)


def test_master_processes_are_the_salt_masters_of_this_config_dir(spawn, master_dir, tmp_path_factory):
    main = salt_master(spawn, master_dir)
    salt_master(spawn, str(tmp_path_factory.mktemp("other-demo")))
    spawn("sleeper", "-c", master_dir)
    assert demo.master_processes(master_dir) == [main.pid]


def test_stop_master_terms_the_main_process_which_stops_the_others(spawn, master_dir, monkeypatch):
    main = salt_master(spawn, master_dir, code=MAIN)
    child = int(main.ready)
    assert demo.master_processes(master_dir) == sorted([main.pid, child])
    pidfile = demo._load_config(master_dir)["pidfile"]
    with open(pidfile, "w", encoding="utf-8") as handle:
        handle.write(f"{main.pid}\n")
    kills = []
    monkeypatch.setattr(psutil.Process, "kill", lambda self: kills.append(self.pid))
    began = time.monotonic()
    assert demo.stop_master(master_dir) is True
    assert time.monotonic() - began < 10
    assert reaped(main) and not psutil.pid_exists(child) and not kills
    assert not os.path.exists(pidfile)
    assert demo.stop_master(master_dir) is False  # nothing left to stop


def test_a_master_that_ignores_sigterm_is_killed_after_the_timeout(spawn, master_dir, monkeypatch):
    main = salt_master(spawn, master_dir, ignore_term=True)
    monkeypatch.setattr(demo, "MASTER_STOP_TIMEOUT", 1)
    began = time.monotonic()
    assert demo.stop_master(master_dir) is True  # no pidfile: every process of the dir is signalled
    assert 1 <= time.monotonic() - began < 10
    assert main.wait(5) == -signal.SIGKILL or reaped(main)


def test_a_master_that_outlives_sigkill_is_one_line(spawn, master_dir, monkeypatch):
    main = salt_master(spawn, master_dir, ignore_term=True)
    monkeypatch.setattr(demo, "MASTER_STOP_TIMEOUT", 0.5)
    monkeypatch.setattr(demo, "MASTER_KILL_TIMEOUT", 0.5)
    monkeypatch.setattr(psutil.Process, "kill", lambda self: None)  # as if it were stuck in the kernel
    with pytest.raises(demo.DemoError) as raised:
        demo.stop_master(master_dir)
    assert str(raised.value) == f"salt-master pids {main.pid} did not stop; kill them by hand"
    assert main.poll() is None


# nodes: a node's systemd-nspawn and the processes in its network namespace

@pytest.fixture
def node_dirs(tmp_path):
    dirs = nodes.NodeDirs(str(tmp_path / "state"), types.SimpleNamespace(name="ctl01"))
    os.makedirs(dirs.base)
    return dirs


def nspawn(spawn, dirs, **kwargs):
    proc = spawn("systemd-nspawn", "--boot", f"--directory={dirs.root}", **kwargs)
    with open(dirs.pid, "w", encoding="utf-8") as handle:
        handle.write(f"{proc.pid}\n")
    return proc


def test_a_node_is_its_nspawn_of_that_root(spawn, node_dirs):
    proc = nspawn(spawn, node_dirs)
    other = spawn("systemd-nspawn", "--boot", f"--directory={node_dirs.root}-other")
    spawn("sleeper", f"--directory={node_dirs.root}")
    assert nodes.running(node_dirs)
    assert not nodes._is_nspawn_of(other.pid, node_dirs.root)
    assert nodes.processes(node_dirs, "/nonexistent/netns") == [proc.pid]
    proc.kill()
    proc.wait()
    assert not nodes.running(node_dirs)
    assert nodes.processes(node_dirs, "/nonexistent/netns") == []


def can_unshare():
    return os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(
        ["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


needs_netns = pytest.mark.skipif(not can_unshare(), reason="needs root and unshare --net")


@needs_netns
def test_stop_all_terms_each_nspawn_then_kills_what_is_left_in_the_namespace(spawn, node_dirs):
    main = nspawn(spawn, node_dirs)
    # a node process that ignores SIGTERM, in a network namespace of its own (unshare execs it)
    stubborn = spawn("sleeper", ignore_term=True)
    in_netns = subprocess.Popen(  # noqa: S603
        ["unshare", "--net", sys.executable, "-c", SLEEPER, "ignore-term"], stdout=subprocess.PIPE, text=True)
    try:
        assert in_netns.stdout.readline().strip() == "ready"
        netns = f"/proc/{in_netns.pid}/ns/net"
        assert sorted(nodes.processes(node_dirs, netns)) == sorted([main.pid, in_netns.pid])
        began = time.monotonic()
        nodes.stop_all([(node_dirs, netns)], grace=0.5)
        assert 0.5 <= time.monotonic() - began < 10
        assert in_netns.wait(5) == -signal.SIGKILL or reaped(in_netns)
        assert reaped(main) and not os.path.exists(node_dirs.pid)
        assert stubborn.poll() is None  # not the node's
    finally:
        in_netns.kill()
        in_netns.wait()
        in_netns.stdout.close()


def test_stop_all_with_nodes_that_are_down_only_forgets_their_pids(node_dirs):
    with open(node_dirs.pid, "w", encoding="utf-8") as handle:
        handle.write("999999999\n")
    nodes.stop_all([(node_dirs, "/nonexistent/netns")], grace=0.2)
    assert not os.path.exists(node_dirs.pid)


# proxy: apt-cacher-ng

@pytest.fixture
def proxy_dirs(tmp_path):
    dirs = proxy.ProxyDirs(str(tmp_path / "state"), str(tmp_path / "cache"))
    os.makedirs(dirs.state)
    return dirs


def apt_cacher_ng(spawn, dirs, cache=None, **kwargs):
    proc = spawn("apt-cacher-ng", f"CacheDir={cache or dirs.cache}", "ForeGround=1", **kwargs)
    with open(dirs.pid, "w", encoding="utf-8") as handle:
        handle.write(f"{proc.pid}\n")
    return proc


def test_the_proxy_runs_when_its_pid_is_apt_cacher_ng_with_our_cache(spawn, proxy_dirs):
    assert not proxy.running(proxy_dirs)  # no pid file
    apt_cacher_ng(spawn, proxy_dirs, cache="/elsewhere")
    assert not proxy.running(proxy_dirs)
    proc = apt_cacher_ng(spawn, proxy_dirs)
    assert proxy.running(proxy_dirs)
    proxy.stop(proxy_dirs)
    assert reaped(proc) and not os.path.exists(proxy_dirs.pid)


def test_a_proxy_that_ignores_sigterm_is_killed_after_the_grace(spawn, proxy_dirs):
    proc = apt_cacher_ng(spawn, proxy_dirs, ignore_term=True)
    began = time.monotonic()
    proxy.stop(proxy_dirs, grace=0.5)
    assert 0.5 <= time.monotonic() - began < 5
    assert proc.wait(5) == -signal.SIGKILL
    assert not os.path.exists(proxy_dirs.pid)


def test_stop_leaves_a_pid_that_is_not_our_proxy_alone(spawn, proxy_dirs):
    other = apt_cacher_ng(spawn, proxy_dirs, cache="/elsewhere")
    proxy.stop(proxy_dirs, grace=0.2)
    assert other.poll() is None and not os.path.exists(proxy_dirs.pid)


# tests/support/lab.py: systemd inside a node is nspawn's child

def test_init_pid_is_the_child_of_the_nodes_nspawn(spawn, node_dirs, tmp_path):
    lab = LabRegion(master=None, topology=types.SimpleNamespace(node=lambda name: types.SimpleNamespace(name=name)),
                    settings=types.SimpleNamespace(state_dir=str(tmp_path / "state")), up_result={},
                    salt_cli=None, salt_run_cli=None)
    with pytest.raises(AssertionError, match="ctl01: no systemd inside the node"):
        lab.init_pid("ctl01")  # no pid file
    main = nspawn(spawn, node_dirs, code=MAIN)
    assert lab.init_pid("ctl01") == int(main.ready)
    lonely = nspawn(spawn, node_dirs)
    with pytest.raises(AssertionError, match="ctl01: no systemd inside the node"):
        lab.init_pid("ctl01")
    lonely.kill()
