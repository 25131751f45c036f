"""Fixtures for the container lab: a started master and a region of real minions.

Use them from any test layer (formula, orchestration, ...)::

    @pytest.mark.lab
    def test_something(lab_region):
        assert lab_region.salt("ctl01", "test.ping") is True  # one minion: its own return
        lab_region.salt_cli.run("state.apply", "keystone", minion_tgt="ctl01")
        lab_region.run_in("ctl01", "systemctl", "is-active", "salt-minion")

``lab_region`` brings up the default topology (``lab/region-minimal.yml``:
ctl01, net01, cmp01, cmp02) against ``lab_master`` once per test module and
takes it down when the module is done, also when tests fail: each module gets
a new region and a master of its own, so what one module installs (a whole
OpenStack region) never reaches the next, and a module's
``lab_master_overrides`` (module scope; override it in the module or a
conftest to add master settings such as ``file_roots``) always applies.
Override ``lab_topology_path`` to bring up another topology.  Without root,
Linux or the lab's tools every test that asks for these fixtures is skipped
with the reason.  One lab of a name runs on a host at a time: a module holds
it (``region.hold``) while its lab is up, so a second test session, the demo
(``default_lab_free``), or ``bench/lab_up.py`` waits for it.
"""

import contextlib
import os
import subprocess
from dataclasses import dataclass

import psutil
import pytest
from saltfactories.utils import random_string

from releasetrain.lab import host, nodes, region, settings, topology

LAB_TESTS_STATE_DIR = "/var/lib/releasetrain/lab-tests"
LOCK_WAIT = 1200
_SESSION = {"holds": None}  # the topology name while lab_region holds it
TARGET_FLAGS = {"glob": None, "grain": "-G", "list": "-L", "compound": "-C", "pcre": "-E", "pillar": "-I"}


def lab_unavailable():
    """Why the lab cannot run here (one line), or ``None``."""
    return host.missing()


@dataclass
class LabRegion:
    """A running lab: its master, topology, settings and helpers to reach the nodes."""

    master: object
    topology: object
    settings: object
    up_result: dict
    salt_cli: object
    salt_run_cli: object

    @property
    def minion_ids(self):
        return [node.name for node in self.topology.nodes]

    def salt(self, target, function, *args, tgt_type="glob", timeout=60):
        """``salt TARGET FUNCTION ARGS`` through the real master; returns the data by minion, or, when
        ``target`` names one minion, that minion's return itself (salt-factories unwraps it)."""
        flags = [TARGET_FLAGS[tgt_type]] if TARGET_FLAGS[tgt_type] else []
        ret = self.salt_cli.run(f"--timeout={timeout}", *flags, function, *args, minion_tgt=target)
        return ret.data

    def init_pid(self, node_name):
        """The pid (on the host) of systemd inside the node."""
        dirs = nodes.NodeDirs(self.settings.state_dir, self.topology.node(node_name))
        nspawn = nodes.read_pid(dirs)
        children = []
        if nspawn:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(nspawn).children()
        if not children:
            raise AssertionError(f"{node_name}: no systemd inside the node")
        return children[0].pid

    def run_in(self, node_name, *argv, check=True, timeout=60):
        """Run ``argv`` inside the node (all its namespaces, its own root)."""
        return subprocess.run(
            ["nsenter", f"--target={self.init_pid(node_name)}", "--all", "--", *argv],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def lab_skip():
    """Skip (with the reason) unless the lab can run on this host."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_settings(lab_skip):
    """Lab settings for tests: a fixed test state dir, the shared base-image cache."""
    return settings.make(
        state_dir=os.environ.get("RELEASETRAIN_LAB_STATE_DIR", LAB_TESTS_STATE_DIR),
        cache_dir=os.environ.get("RELEASETRAIN_LAB_CACHE_DIR"),
    )


@pytest.fixture(scope="module")
def lab_topology_path():
    """The topology ``lab_region`` brings up; override to use another."""
    return topology.default_path()


@pytest.fixture(scope="module")
def lab_master_overrides():
    """Extra master configuration for ``lab_master`` (override in a conftest)."""
    return {}


@pytest.fixture(scope="module")
def lab_master(salt_factories, lab_settings, lab_master_overrides, tmp_path_factory):
    """A started salt-master the lab's minions reach (listens on all addresses)."""
    base = tmp_path_factory.mktemp("lab-master")
    releasetrain = {
        "store": str(base / "store"),
        "cache": str(base / "cache"),
        "environments": ["test", "staging", "production"],
        "lab": {
            "state_dir": lab_settings.state_dir,
            "cache_dir": lab_settings.cache_dir,
            "boot_timeout": lab_settings.boot_timeout,
        },
    }
    overrides = {
        "interface": "0.0.0.0",
        "log_level_logfile": "info",
        **lab_master_overrides,
        "releasetrain": {**releasetrain, **lab_master_overrides.get("releasetrain", {})},
    }
    master = salt_factories.salt_master_daemon(random_string("lab-master-"), overrides=overrides)
    with master.started(start_timeout=120):
        yield master


@pytest.fixture(scope="module")
def lab_region(request, lab_master, lab_settings, lab_topology_path):
    """The default region up with real minions answering; removed at the end of the module
    (unless ``--keep-lab``)."""
    salt_run = lab_master.salt_run_cli(timeout=900)
    topo = topology.load(lab_topology_path)
    with region.hold(topo.name, wait=LOCK_WAIT):
        _SESSION["holds"] = topo.name
        salt_run.run("lab.down")  # whatever a crashed earlier session left
        try:
            ret = salt_run.run("lab.up", f"topology={lab_topology_path}")
            if ret.returncode != 0:
                pytest.fail(f"lab.up failed: {ret.data or ret.stdout or ret.stderr}")
            yield LabRegion(
                master=lab_master,
                topology=topo,
                settings=lab_settings,
                up_result=ret.data,
                salt_cli=lab_master.salt_cli(timeout=120),
                salt_run_cli=salt_run,
            )
        finally:
            _SESSION["holds"] = None
            if request.config.getoption("--keep-lab"):
                print(f"\n--keep-lab: region {topo.name} left up (state in {lab_settings.state_dir})")
            else:
                down = salt_run.run("lab.down")
                assert down.returncode == 0, f"lab.down failed: {down.data or down.stderr}"


@pytest.fixture(scope="module")
def default_lab_free(lab_skip):
    """For a test that brings the default topology up itself: no lab_region of this session may hold it."""
    if _SESSION["holds"]:
        pytest.fail(
            f"this module holds the lab {_SESSION['holds']!r} (lab_region) until it ends; a test using "
            "default_lab_free must be in a module without lab_region"
        )
