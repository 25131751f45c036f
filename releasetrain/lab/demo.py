"""The README's main job on a local default: a region deployed by ``deploy.region`` in the lab.

``./run demo`` (``python -m releasetrain.lab.demo``), as root on Debian 12:

1. writes a salt-master configuration under ``.local/demo`` (nothing in /etc):
   the release store, the lab's settings, listening on 0.0.0.0 for the lab's
   minions, and the pillar of ``test``: the published tree's ``pillar/`` plus
   ``.local/demo/pillar`` (a top.sls and the region's secrets, made once, mode 0600);
2. packages ``examples/manifest.yml`` with its repos of this checkout (url ``..``)
   re-pinned to HEAD (:func:`pin_to_checkout`: what the checkout holds now, committed),
   and publishes it to ``test``;
3. starts a salt-master daemon with that configuration;
4. holds the lab (a test session that has it makes the demo wait), brings up
   the default topology (``salt-run lab.up``) and deploys the release with
   ``salt-run state.orchestrate deploy.region``, showing each step as it starts and
   ends from the ``releasetrain/deploy/step/{start,done}`` events on the master's bus
   (:class:`StepEvents`, which first proves it hears the bus with a
   ``releasetrain/demo/listening`` event of its own);
5. proves the cloud: boots a server on QEMU and shows the line its guest writes to
   its console (:mod:`releasetrain.lab.guest`, through ``salt CONTROLLER cmd.run_all``);
6. shows ``release.status`` and how to reach the region.

``./run demo down`` takes the lab down and stops the salt-master.
``./run demo --release-only`` is the job without the lab: package, publish
to ``test``, ``release.status`` (no root, no daemon, seconds).

Everything goes through the real ``salt-run``; a failure exits 1 with one line.
"""

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import git
import psutil
import yaml

from releasetrain.release import manifest as manifest_mod
from releasetrain import saltglue, secrets
from releasetrain.cli import master_config
from releasetrain.errors import ReleaseTrainError
from releasetrain.lab import guest
from releasetrain.lab import settings as lab_settings
from releasetrain.lab import topology as lab_topology

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
#: The pillar the region's nodes get in the saltenv deployed (``test``): the lab's addresses and
#: that environment's settings (both from the published kit), and the secrets made for the demo.
PILLAR_SLS = ("openstack.region.lab", "openstack.environment.{env}", "openstack.secrets.lab")
SECRETS_SLS = os.path.join("openstack", "secrets", "lab.sls")
#: How long the demo waits for another session (a test run) to give the lab back.
HOLD_WAIT = 4 * 3600
MASTER_START_TIMEOUT = 90
MASTER_STOP_TIMEOUT = 60
#: How long ``stop_master`` waits after SIGKILL before it gives up.
MASTER_KILL_TIMEOUT = 10
OPENRC = guest.OPENRC
#: The manifest the demo packages: the example, with this checkout's repos re-pinned to HEAD.
PINNED_MANIFEST = "manifest.yml"
SHORT_SHA = 10
#: The tags ``deploy.step`` fires on the master bus (``_states/deploy.py``): ``.../start``, ``.../done``.
STEP_EVENTS = "releasetrain/deploy/step/"
#: How long :class:`StepEvents` waits to be connected to the master's event bus.
LISTEN_TIMEOUT = 10
# the demo's own lines and salt-run's streamed output come from two threads
_OUTPUT = threading.Lock()


class DemoError(Exception):
    """A step failed; ``str()`` is the one line to print."""


def write_master_config(root, env="test"):
    """A self-contained master config under ``root`` (and the demo pillar); returns the config dir."""
    for sub in ("pki", "cache/proc", "sock", "store", "gitcache", "log", "run", "pillar"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    config = master_config(store=os.path.join(root, "store"), cache=os.path.join(root, "gitcache"))
    pillar_dir = os.path.join(root, "pillar")
    config["pillar_roots"][env] = [*config["pillar_roots"].get(env, []), pillar_dir]
    config["releasetrain"]["lab"] = {key: value for key, value in lab_settings.DEFAULTS.items() if value is not None}
    config.update({
        "root_dir": root,
        "pki_dir": os.path.join(root, "pki"),
        "cachedir": os.path.join(root, "cache"),
        "sock_dir": os.path.join(root, "sock"),
        "pidfile": os.path.join(root, "run", "salt-master.pid"),
        "log_file": os.path.join(root, "log", "master"),
        "log_level_logfile": "info",
        "user": "root" if os.geteuid() == 0 else os.environ.get("USER", "root"),
        # the lab's minions connect to the topology's master address on the host
        "interface": "0.0.0.0",
    })
    with open(os.path.join(root, "master"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    top = {env: {"*": [sls.format(env=env) for sls in PILLAR_SLS]}}
    with open(os.path.join(pillar_dir, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write("# Written by releasetrain.lab.demo: the region pillar of the published kit, and the secrets.\n")
        yaml.safe_dump(top, handle, sort_keys=False)
    secrets.write_pillar(os.path.join(pillar_dir, SECRETS_SLS))
    return root


def _error_line(stdout, stderr=""):
    """What went wrong, in one line: a ``HALTED`` line, the runner's ``ERROR:``, else Salt's last error."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    for line in reversed(lines):
        if "HALTED" in line:
            return line[line.index("HALTED"):]
    for line in reversed(lines):
        if line.startswith("ERROR: "):  # the releasetrain outputter
            return line[len("ERROR: "):]
        if line.startswith("error: "):  # the same result as YAML (--out=yaml)
            try:
                return str(yaml.safe_load(line)["error"])
            except yaml.YAMLError:
                return line[len("error: "):]
    logged = [line.strip() for line in stderr.splitlines() if "[ERROR" in line or "[CRITICAL" in line]
    if logged:
        return logged[-1].split("]", 1)[-1].strip()
    return lines[-1] if lines else "(no output)"


def _say(text):
    with _OUTPUT:
        sys.stdout.write(text)
        sys.stdout.flush()


def drop_log(line):
    """salt-run's output without its log lines and Salt's warnings about its own unclosed clients."""
    if re.match(r"^\[(DEBUG|INFO|WARNING)\s*\]", line) or line.startswith("unclosed "):
        return None
    return line


def step_line(tag, data, when=None):
    """The demo's line for a ``releasetrain/deploy/step/{start,done}`` event (``None`` for another
    tag), stamped with the local time ``when`` (seconds since the epoch; default now)."""
    clock = time.strftime("%H:%M:%S", time.localtime(when))
    kind = tag[len(STEP_EVENTS):] if tag.startswith(STEP_EVENTS) else None
    step = data.get("id") or data.get("name") or "?"
    if kind == "start":
        return f"  {clock} {step} ...\n"
    if kind != "done":
        return None
    result = data.get("result")
    if result is True:
        outcome = "ok"
    elif result is None:
        outcome = "would change something (dry run)"
    else:
        outcome = f"FAILED: {data.get('comment') or 'no reason given'}"
    return f"  {clock} {step} ended after {float(data.get('seconds') or 0):.0f} s: {outcome}\n"


class StepEvents:
    """While it is entered, a thread listens to the master's event bus (the config in ``config_dir``)
    and prints :func:`step_line` for each ``deploy.step`` event. On leaving, it prints what is left
    to read, then stops. A bus it cannot reach is one line; the deploy goes on without step lines."""

    def __init__(self, config_dir, write=_say, timeout=LISTEN_TIMEOUT):
        self.config_dir = config_dir
        self.write = write
        self.timeout = timeout
        self.connected = False
        self.problem = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._thread = threading.Thread(target=self._listen, name="deploy-step-events", daemon=True)
        self._thread.start()
        # connecting and the probe event take up to ``timeout`` each
        if not self._ready.wait(2 * self.timeout + 5):
            self._stop.set()  # the thread gives up when it gets there
            self.problem = f"not connected after {2 * self.timeout + 5:.0f} s"
        if not self.connected:
            self.write(f"(no step lines: cannot listen to the master's event bus: {self.problem})\n")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout)

    def _listen(self):
        import salt.config  # pylint: disable=import-outside-toplevel
        import salt.utils.event  # pylint: disable=import-outside-toplevel

        try:
            opts = salt.config.master_config(os.path.join(self.config_dir, "master"))
            event = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
        except Exception as err:  # pylint: disable=broad-except
            self.problem = f"{type(err).__name__}: {err}"
            self._ready.set()
            return
        try:
            self.connected = self._connect(opts, event) and not self._stop.is_set()
            self._ready.set()
            while self.connected:
                got = event.get_event(wait=0.5, tag=STEP_EVENTS, full=True)
                if got:
                    line = step_line(got["tag"], got["data"])
                    if line:
                        self.write(line)
                elif self._stop.is_set():
                    break  # salt-run ended and half a second went by without an event
        except Exception as err:  # pylint: disable=broad-except
            self.problem = f"{type(err).__name__}: {err}"
            self.write(f"(no more step lines: {self.problem})\n")
        finally:
            self._ready.set()
            event.destroy()

    def _connect(self, opts, event):
        """Subscribe, then prove it: an event fired on the bus (``releasetrain/demo/listening``)
        comes back (the publisher's socket may be a dead master's)."""
        pub = os.path.join(opts["sock_dir"], "master_event_pub.ipc")
        if not os.path.exists(pub):
            self.problem = f"no {pub}: is the salt-master running?"
            return False
        event.connect_pub(timeout=self.timeout)
        probe = {"id": f"{os.getpid()}-{time.monotonic()}"}
        with saltglue.MasterEvents(opts, "releasetrain/demo") as fire:
            fire("listening", probe)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            got = event.get_event(wait=0.5, tag="releasetrain/demo/listening", full=True)
            if got and got["data"].get("id") == probe["id"]:
                return True
        self.problem = f"an event fired on {opts['sock_dir']} did not come back within {self.timeout:.0f} s"
        return False


def salt_run(config_dir, *args, stream=False, quiet=False, filter_line=None):
    """``salt-run -c CONFIG ARGS``; prints its output; raises :class:`DemoError` with one line on failure."""
    command = [os.path.join(BIN, "salt-run"), "-c", config_dir, *args]
    if not quiet:
        print("$ salt-run " + " ".join(args), flush=True)
    if stream:  # long jobs: show the output as it comes
        captured = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            for line in proc.stdout:
                captured.append(line)
                shown = filter_line(line) if filter_line else line
                if shown:
                    _say(shown)
        stdout, stderr = "".join(captured), ""
        returncode = proc.returncode
    else:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if not quiet:
            sys.stdout.write(result.stdout)
        stdout, stderr, returncode = result.stdout, result.stderr, result.returncode
    if returncode:
        name = next(arg for arg in args if not arg.startswith("-"))
        raise DemoError(f"salt-run {name} failed (exit {returncode}): {_error_line(stdout, stderr)}")
    return stdout


def _load_config(config_dir):
    with open(os.path.join(config_dir, "master"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _read_pid(path):
    try:
        with open(path, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid):
    """Whether ``pid`` runs (a zombie does not)."""
    if pid <= 0:
        return False
    try:
        return _running(psutil.Process(pid))
    except (psutil.Error, ValueError):
        return False


def _running(proc):
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def master_processes(config_dir):
    """The pids of salt-master processes started with this config dir."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        argv = " ".join(proc.info["cmdline"] or [])
        if "salt-master" in argv and f"-c {config_dir}" in argv:
            found.append(proc.pid)
    return sorted(found)


def _port_open(port):
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", int(port))) == 0


def start_master(config_dir):
    """Start ``salt-master -d`` with the demo config unless it runs; wait until it takes connections."""
    config = _load_config(config_dir)
    pid = _read_pid(config["pidfile"])
    if pid:
        print(f"salt-master already running (pid {pid})")
        return pid
    ports = (config.get("publish_port", 4505), config.get("ret_port", 4506))
    busy = [port for port in ports if _port_open(port)]
    if busy:
        raise DemoError(f"port {busy[0]} is taken by another process; stop it (or another salt-master) first")
    print(f"$ salt-master -c {config_dir} -d", flush=True)
    result = subprocess.run([os.path.join(BIN, "salt-master"), "-c", config_dir, "-d"],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        raise DemoError(f"salt-master failed to start (exit {result.returncode}): {_error_line(result.stdout, result.stderr)}")
    deadline = time.monotonic() + MASTER_START_TIMEOUT
    event_pub = os.path.join(config["sock_dir"], "master_event_pub.ipc")
    while time.monotonic() < deadline:
        pid = _read_pid(config["pidfile"])
        if pid and all(_port_open(port) for port in ports) and os.path.exists(event_pub):
            print(f"salt-master running (pid {pid}, ports {ports[0]} and {ports[1]} on 0.0.0.0)")
            return pid
        time.sleep(0.5)
    raise DemoError(f"salt-master did not come up within {MASTER_START_TIMEOUT}s; see {config['log_file']}")


def stop_master(config_dir):
    """Stop the demo's salt-master (TERM, then KILL what is left of it); True when one was running."""
    config = _load_config(config_dir)
    main_pid = _read_pid(config["pidfile"])
    pids = sorted(set(master_processes(config_dir)) | ({main_pid} if main_pid else set()))
    if not pids:
        return False
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    # the main process stops its children; the others are only killed when they outlive it
    left = _signal_and_wait(procs, [proc for proc in procs if proc.pid == main_pid] or procs,
                            psutil.Process.terminate, MASTER_STOP_TIMEOUT)
    if left:
        left = _signal_and_wait(left, left, psutil.Process.kill, MASTER_KILL_TIMEOUT)
    if left:
        raise DemoError(f"salt-master pids {', '.join(str(proc.pid) for proc in left)} did not stop; kill them by hand")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(config["pidfile"])
    return True


def _signal_and_wait(procs, signalled, send, timeout):
    """``send`` (terminate or kill) to ``signalled``, wait up to ``timeout`` s for all of ``procs``
    to end; returns those still running (a zombie has ended: its parent may reap it late), by pid."""
    for proc in signalled:
        with contextlib.suppress(psutil.NoSuchProcess):
            send(proc)
    deadline = time.monotonic() + timeout
    alive = [proc for proc in procs if _running(proc)]
    while alive and time.monotonic() < deadline:
        # reaps our own children; for the others it watches their pid, so poll for zombies too
        psutil.wait_procs(alive, timeout=min(0.5, max(deadline - time.monotonic(), 0)))
        alive = [proc for proc in alive if _running(proc)]
    return sorted(alive, key=lambda proc: proc.pid)


@contextlib.contextmanager
def hold_lab(name, wait=HOLD_WAIT):
    """Hold the lab ``name`` (``region.hold``); say so while another session has it."""
    from releasetrain.lab import region  # pylint: disable=import-outside-toplevel
    from releasetrain.lab.errors import LabError  # pylint: disable=import-outside-toplevel

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(region.hold(name, wait=0))
        except LabError as err:
            if "another session" not in str(err):
                raise
            print(f"waiting for the lab {name!r}: another session (a test run?) holds it; "
                  f"waiting up to {wait / 60:.0f} min ...", flush=True)
            started = time.monotonic()
            stack.enter_context(region.hold(name, wait=wait))
            print(f"got the lab {name!r} after {time.monotonic() - started:.0f}s", flush=True)
        yield


def pin_to_checkout(manifest_path, out_path, checkout=REPO_ROOT):
    """The manifest to package: ``manifest_path`` with its repos that point at ``checkout`` (the
    example's ``url: ..``) pinned to the checkout's HEAD, written to ``out_path`` (absolute urls),
    and the release named after the original plus HEAD's short SHA (the content-derived
    ``kit-<hash>`` when it has no name). Warns when the pinned folders have uncommitted changes,
    which the kit does not hold. A manifest with no repo of the checkout is used as it is."""
    parsed = manifest_mod.load(manifest_path)
    home = os.path.realpath(checkout)
    ours = {pin.name for pin in parsed.repos if os.path.realpath(pin.fetch_url or pin.url) == home}
    if not ours:
        return manifest_path
    try:
        repo = git.Repo(checkout)
        head = repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError) as err:
        raise DemoError(f"{checkout} is not a git checkout with a commit, so the demo cannot pin it: {err}") from err
    folders = sorted({pin.subdir or "." for pin in parsed.repos if pin.name in ours})
    dirty = [folder for folder in folders if repo.is_dirty(untracked_files=True, path=folder)]
    if dirty:
        where = ", ".join("the checkout" if folder == "." else f"{folder}/" for folder in dirty)
        print(f"WARNING: uncommitted changes in {where} are not in the kit: it packages HEAD {head[:SHORT_SHA]}",
              file=sys.stderr, flush=True)
    repos = [{**pin.describe(), "url": pin.fetch_url or pin.url, **({"sha": head} if pin.name in ours else {})}
             for pin in parsed.repos]
    pinned = {"release": f"{parsed.release}-{head[:SHORT_SHA]}"} if parsed.release else {}
    with open(out_path, "w", encoding="utf-8") as handle:
        handle.write(f"# Written by releasetrain.lab.demo: {manifest_path} with {', '.join(sorted(ours))} "
                     f"pinned to {checkout} HEAD.\n")
        yaml.safe_dump({**pinned, "repos": repos}, handle, sort_keys=False)
    return out_path


def package_and_publish(config_dir, manifest, env):
    manifest = pin_to_checkout(manifest, os.path.join(config_dir, PINNED_MANIFEST))
    packaged = salt_run(config_dir, "--out=yaml", "release.package", f"manifest={manifest}")
    release = yaml.safe_load(packaged)["release"]
    salt_run(config_dir, "release.publish", release, f"env={env}")
    return release


def release_only(args, config_dir):
    release = package_and_publish(config_dir, args.manifest, args.env)
    salt_run(config_dir, "release.status")
    print(f"\nrelease {release} is published to {args.env}; its tree is "
          f"{os.path.join(config_dir, 'store', 'envs', args.env)}")


class Clock:
    """Wall time of each step, printed at the end."""

    def __init__(self):
        self.started = time.monotonic()
        self.steps = []

    @contextlib.contextmanager
    def step(self, name):
        began = time.monotonic()
        yield
        self.steps.append((name, time.monotonic() - began))

    def report(self):
        lines = [f"  {name:<24} {seconds:7.0f} s" for name, seconds in self.steps]
        lines.append(f"  {'total':<24} {time.monotonic() - self.started:7.0f} s")
        return "\n".join(lines)


def salt_cmd(config_dir, target):
    """A ``run(script, timeout)`` for :func:`releasetrain.lab.guest.boot`: ``salt TARGET cmd.run_all``
    in bash; a minion that does not answer is a failed command."""
    def run(script, timeout):
        # an argument with a newline is passed as it is (Salt parses the others as YAML)
        command = [os.path.join(BIN, "salt"), "-c", config_dir, "--out=json", "--static", "-t", str(timeout + 30),
                   target, "cmd.run_all", script + "\n", "shell=/bin/bash", "python_shell=True", f"timeout={timeout}"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout + 90)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(command, 1, "", f"salt {target}: no answer within {timeout + 90} s")
        try:
            ret = json.loads(result.stdout)[target]
        except (ValueError, KeyError, TypeError):
            ret = None
        if not isinstance(ret, dict):
            said = (result.stdout + result.stderr).strip().splitlines()
            return subprocess.CompletedProcess(command, 1, "", f"salt {target}: {said[-1] if said else 'no answer'}")
        return subprocess.CompletedProcess(command, ret.get("retcode", 1), ret.get("stdout", ""), ret.get("stderr", ""))
    return run


def controller_of(topo):
    return next((node.name for node in topo.nodes if "controller" in node.roles), topo.nodes[0].name)


def prove_the_cloud(config_dir, topo):
    """Boot the guest on the region; :class:`DemoError` naming what failed. Returns its console line."""
    controller = controller_of(topo)
    print(f"booting a server on QEMU, through salt {controller} cmd.run_all "
          f"(image, flavor, network, server '{guest.SERVER}', its console log):", flush=True)
    try:
        booted = guest.boot(salt_cmd(config_dir, controller), say=lambda line: print(f"  {line}", flush=True))
    except guest.GuestBootError as err:
        raise DemoError(f"the region did not boot a server: {err}") from err
    return booted["line"]


def region_up(args, config_dir):
    topo = lab_topology.load(args.topology)
    clock = Clock()
    with clock.step("package + publish"):
        release = package_and_publish(config_dir, args.manifest, args.env)
    with clock.step("salt-master"):
        start_master(config_dir)
    with hold_lab(topo.name, wait=args.wait):
        # A region this run creates is bootstrapped, also when the store remembers a release
        # verified in an earlier demo's (since removed) region; a running one is left to deploy.plan.
        was_up = json.loads(salt_run(config_dir, "--out=json", "lab.status", quiet=True)).get("up")
        with clock.step("lab.up"):
            salt_run(config_dir, "lab.up", f"topology={topo.source}")
        pillar = {"release": release, "env": args.env}
        if not was_up:
            pillar["mode"] = "bootstrap"
        pillar = json.dumps(pillar)
        print(f"deploy.region: a cold region takes about 20 minutes; the master logs to "
              f"{os.path.join(config_dir, 'log', 'master')}", flush=True)
        with clock.step("deploy.region"), StepEvents(config_dir):
            salt_run(config_dir, "--state-output=mixed", "state.orchestrate", "deploy.region",
                     f"pillar={pillar}", stream=True, filter_line=drop_log)
        with clock.step("boot a server"):
            said = prove_the_cloud(config_dir, topo)
    salt_run(config_dir, "release.status")
    print(f"\nrelease {release} is deployed and verified in {args.env} on the lab region {topo.name!r}.")
    print(f"its server {guest.SERVER} booted on QEMU; the guest wrote to its console: {said}")
    print("wall time:\n" + clock.report())
    print(how_to_reach(config_dir, topo))


def how_to_reach(config_dir, topo):
    roles = ", ".join(f"{node.name} ({'/'.join(node.roles)}, {node.mgmt_address})" for node in topo.nodes)
    salt = f"{os.path.join(BIN, 'salt')} -c {config_dir}"
    run = f"{os.path.join(BIN, 'salt-run')} -c {config_dir}"
    controller = controller_of(topo)
    return "\n".join([
        "",
        f"The region: {roles}; the salt-master listens on {topo.master_address}.",
        f"  {run} lab.status                # the nodes, their addresses, bridges, the apt proxy",
        f"  {salt} '*' test.ping",
        f"  {salt} {controller} cmd.run '. {OPENRC} && openstack service list'",
        f"  {salt} {controller} cmd.run '. {OPENRC} && openstack token issue'",
        f"  {salt} {controller} cmd.run '. {OPENRC} && openstack console log show {guest.SERVER}'",
        "  ./run demo down                    # lab.down, then stop the salt-master",
        "While it is up, test sessions cannot bring up their lab of the same name: take it down first.",
    ])


def region_down(args, config_dir):
    if not os.path.isfile(os.path.join(config_dir, "master")):
        print(f"no demo in {config_dir}: nothing to take down")
        return
    failure = None
    try:
        salt_run(config_dir, "lab.down")
    except DemoError as err:
        failure = err
    print(f"$ stop salt-master -c {config_dir}", flush=True)
    stopped = stop_master(config_dir)
    print("salt-master stopped" if stopped else "salt-master was not running")
    if failure:
        raise failure
    print("the demo's lab and salt-master are down")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", choices=("up", "down"), default="up",
                        help="up (default): deploy the region; down: lab.down and stop the salt-master")
    parser.add_argument("--release-only", action="store_true",
                        help="only package the manifest, publish it and show release.status (no lab, no root)")
    parser.add_argument("--root", default=os.path.join(REPO_ROOT, ".local", "demo"))
    parser.add_argument("--manifest", default=os.path.join(REPO_ROOT, "examples", "manifest.yml"))
    parser.add_argument("--env", default="test")
    parser.add_argument("--topology", default=None, help="the lab topology (default lab/region-minimal.yml)")
    parser.add_argument("--wait", type=float, default=HOLD_WAIT,
                        help="seconds to wait for another session to give the lab back")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    try:
        if args.action == "down":
            region_down(args, root)
            return 0
        config_dir = write_master_config(root, args.env)
        if args.release_only:
            release_only(args, config_dir)
            return 0
        if os.geteuid() != 0:
            raise DemoError("the demo's lab needs root (sudo ./run demo); ./run demo --release-only runs without it")
        try:
            region_up(args, config_dir)
        except (DemoError, ReleaseTrainError, OSError) as err:
            raise DemoError(f"{err} (./run demo down takes down what was started)") from err
    except (DemoError, ReleaseTrainError, OSError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
