"""The review gate on lab regions: what its region test and its benchmark share.

A module imports the fixtures it uses (pytest finds them in its namespace)::

    from tests.support.candidate_lab import deploy_lab_dirs, gate, gerrit_server, lab_master_overrides  # noqa: F401

and gets a master whose only environment for candidates is ``volatile``, with one candidate region
at a time over role layers (unless ``RELEASETRAIN_CANDIDATE_LAYERS=0``), the lab's ext_pillar,
salt-api's webhook and the reactors; ``gate``
(the kit repo, salt-api up) checks on teardown that nothing of the candidate region is left.
"""

import os
import threading
import time
from types import SimpleNamespace

import pytest
import yaml

from releasetrain import config as rt_config
from releasetrain.gerrit.pipeline import Pipeline
from releasetrain.lab import network, region, topology
from releasetrain.loader import tree_path
from releasetrain.secrets import make_secrets
from tests.support.deploy_lab import commit_kit, deploy_lab_dirs, git, manifest  # noqa: F401 (fixture)
from tests.support.gerrit import PROJECT, SECRET, GerritStandIn, recorded

RUN_WAIT = 3600
#: ``0`` gives the candidate regions no role layers (bench/candidate_vote.py's ``plain`` case: every
#: package installed by the states, as on a production region); anything else, or unset: layers on.
LAYERS_ENV = "RELEASETRAIN_CANDIDATE_LAYERS"


def layers_on():
    return os.environ.get(LAYERS_ENV, "1") != "0"


@pytest.fixture(scope="module")
def gerrit_server():
    server = GerritStandIn()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def lab_master_overrides(deploy_lab_dirs, gerrit_server):
    """A master whose only environment for candidates is ``volatile``, with one candidate region at
    a time, the lab's ext_pillar, salt-api's webhook and the reactors."""
    envs = deploy_lab_dirs["store"] / "envs"
    return {
        "releasetrain": {
            "store": str(deploy_lab_dirs["store"]), "environments": ["test"], "volatile_environments": ["volatile"],
            "gerrit": {"secret": SECRET, "projects": {PROJECT: {"repo": "kit", "branches": ["master"]}},
                       "rest": {"url": gerrit_server.url, "user": "releasetrain", "password": "p"}},
            "pipeline": {"deploy_kit": str(deploy_lab_dirs["deploy_kit"]), "settle": 0.5,
                         "candidate": {"region": {"max_regions": 1, "wait": RUN_WAIT, "layers": layers_on()}}},
        },
        "file_roots": {"base": [tree_path("orchestrate")],
                       "volatile": [str(envs / "volatile" / "states"), tree_path("orchestrate")]},
        "pillar_roots": {"volatile": [str(envs / "volatile" / "pillar")]},
        "ext_pillar": [{"releasetrain_lab": {}}],
        "reactor": [{"salt/netapi/hook/gerrit*": [tree_path("reactor") + "/gerrit_hook.sls"]},
                    {"releasetrain/gerrit/*": [tree_path("reactor") + "/gerrit_event.sls"]}],
        "rest_cherrypy": {"port": deploy_lab_dirs["api_port"], "host": "127.0.0.1", "disable_ssl": True,
                          "webhook_disable_auth": True},
    }


@pytest.fixture(scope="module")
def gate(default_lab_free, lab_master, deploy_lab_dirs, lab_settings):
    """The deploy-kit repo pinned at the kit's first commit, salt-api up; yields what the tests use."""
    secrets = make_secrets()
    kit = deploy_lab_dirs["kit"]
    base = commit_kit(kit, "base", secrets, env="volatile")
    deploy_kit = deploy_lab_dirs["deploy_kit"]
    deploy_kit.mkdir()
    (deploy_kit / "manifest.yml").write_text(yaml.safe_dump(manifest(deploy_lab_dirs, base)))
    git(deploy_kit, "init", "-q", "-b", "main")
    git(deploy_kit, "add", "-A")
    git(deploy_kit, "commit", "-q", "-m", "Deploy-kit: base")
    with lab_master.salt_api_daemon().started(start_timeout=120):
        yield SimpleNamespace(
            master=lab_master, secrets=secrets, kit=kit, base=base, lab_settings=lab_settings,
            pipeline=Pipeline(rt_config.load(lab_master.config), orchestrate=None),
            api=SimpleNamespace(api_url=f"http://127.0.0.1:{deploy_lab_dirs['api_port']}"))
    assert_nothing_left(gate_state_dir(lab_settings), lab_master, lab_settings)


def patchset(gate, change, number, message, edit_defaults=None):
    """A kit commit (the formula, its defaults edited) kept only under the change's ref, and its event."""
    head = git(gate.kit, "rev-parse", "HEAD")
    sha = commit_kit(gate.kit, message, gate.secrets, env="volatile")
    if edit_defaults:
        defaults = gate.kit / "states" / "openstack" / "parameters" / "defaults.yaml"
        defaults.write_text(edit_defaults(defaults.read_text()))
        git(gate.kit, "commit", "-q", "-am", message)
        sha = git(gate.kit, "rev-parse", "HEAD")
    ref = f"refs/changes/{change % 100:02d}/{change}/{number}"
    git(gate.kit, "update-ref", ref, sha)
    git(gate.kit, "reset", "-q", "--hard", head)
    event = recorded("patchset-created.json")
    event["change"]["number"], event["patchSet"]["number"] = change, number
    event["patchSet"].update(revision=sha, ref=ref)
    event["eventCreatedOn"] = int(time.time())
    return event, sha


def run_of(gate, change, number, done=True, timeout=RUN_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in gate.pipeline.status(limit=50)["runs"] if (r.get("change"), r.get("patchset")) == (
            change, number)]
        if runs and (not done or runs[-1]["result"] not in ("queued", "running")):
            return runs[-1]
        time.sleep(5)
    pytest.fail(f"no finished run of change {change} patchset {number} after {timeout} s")


def reviews_of(gerrit_server, sha):
    return [r["body"] for r in gerrit_server.reviews if f"/revisions/{sha}/review" in r["path"]]


def gate_state_dir(lab_settings):
    """The state dir of the candidate region ``cand1`` (releasetrain.lab.copies)."""
    return f"{lab_settings.state_dir}-cand1"


def assert_nothing_left(state_dir, master, lab_settings):
    assert not os.path.exists(os.path.join(state_dir, region.STATE_FILE)), "the candidate region's state is left"
    assert not os.path.exists(os.path.join(region.OWNERS, "cand1")), "the candidate region is still claimed"
    copy = topology.parse(yaml.safe_load(open(f"{state_dir}.yml", encoding="utf-8")))
    settings = SimpleNamespace(state_dir=state_dir, cache_dir=lab_settings.cache_dir)
    assert region.leftovers(settings, copy) == []
    assert not [link for link in os.listdir("/sys/class/net") if link.startswith(f"rl{network.tag(copy)}-")]
    accepted = os.listdir(os.path.join(master.config["pki_dir"], "minions"))
    assert not [minion for minion in accepted if minion.startswith("cand1-")], accepted
