"""The review gate end to end: patchset-created at salt-api's webhook -> reactor -> pipeline ->
a lab region of the candidate's own (``cand1``, a copy of lab/region-minimal.yml) -> deploy.region
bootstrap of the candidate kit there -> Verified on the Gerrit stand-in -> the region removed.

* Patchset 1 of a change is superseded by patchset 2 while its region is up: it is stopped, its
  region removed, it gets a message and no vote; patchset 2 deploys the whole region and gets +1.
  Patchset 1's region built the role layers of the candidate's package states (``layers: true``):
  patchset 2's nodes mount them, and the deploy runs every state as before.
* Another change posted meanwhile waits in order (``max_regions: 1``) and runs after patchset 2.
* A patchset whose nova.conf template does not render gets -1 naming the stage and the state.
* Nothing of a candidate region is left on the host afterwards: namespaces, bridges, mounts,
  containers, its apt proxy and its minion keys.
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
from tests.support.gerrit import PROJECT, SECRET, GerritStandIn, post_hook, recorded

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]

CHANGE, BROKEN = 12501, 12502
RUN_WAIT = 3600


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
                         "candidate": {"region": {"max_regions": 1, "wait": RUN_WAIT, "layers": True}}},
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
    _assert_nothing_left(gate_state_dir(lab_settings), lab_master, lab_settings)


def _patchset(gate, change, number, message, edit_defaults=None):
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


def _run_of(gate, change, number, done=True, timeout=RUN_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in gate.pipeline.status(limit=50)["runs"] if (r.get("change"), r.get("patchset")) == (
            change, number)]
        if runs and (not done or runs[-1]["result"] not in ("queued", "running")):
            return runs[-1]
        time.sleep(5)
    pytest.fail(f"no finished run of change {change} patchset {number} after {timeout} s")


def _reviews_of(gerrit_server, sha):
    return [r["body"] for r in gerrit_server.reviews if f"/revisions/{sha}/review" in r["path"]]


def gate_state_dir(lab_settings):
    """The state dir of the candidate region ``cand1`` (releasetrain.lab.copies)."""
    return f"{lab_settings.state_dir}-cand1"


def _assert_nothing_left(state_dir, master, lab_settings):
    assert not os.path.exists(os.path.join(state_dir, region.STATE_FILE)), "the candidate region's state is left"
    assert not os.path.exists(os.path.join(region.OWNERS, "cand1")), "the candidate region is still claimed"
    copy = topology.parse(yaml.safe_load(open(f"{state_dir}.yml", encoding="utf-8")))
    settings = SimpleNamespace(state_dir=state_dir, cache_dir=lab_settings.cache_dir)
    assert region.leftovers(settings, copy) == []
    assert not [link for link in os.listdir("/sys/class/net") if link.startswith(f"rl{network.tag(copy)}-")]
    accepted = os.listdir(os.path.join(master.config["pki_dir"], "minions"))
    assert not [minion for minion in accepted if minion.startswith("cand1-")], accepted


def test_a_new_patchset_supersedes_the_running_one_and_gets_plus_one_on_its_own_region(gate, gerrit_server):
    started = time.monotonic()
    first, first_sha = _patchset(gate, CHANGE, 1, "nova: patchset 1")
    post_hook(gate.api, first)
    deadline = time.monotonic() + 900
    while not os.path.exists(os.path.join(gate_state_dir(gate.lab_settings), region.STATE_FILE)):
        assert time.monotonic() < deadline, "patchset 1's region did not come up"
        time.sleep(2)
    second, second_sha = _patchset(gate, CHANGE, 2, "nova: patchset 2")
    post_hook(gate.api, second)
    deadline = time.monotonic() + 300
    while not [t for t in gate.pipeline.status()["candidate_regions"]["waiting"] if t["patchset"] == 2]:
        assert time.monotonic() < deadline, "patchset 2 did not queue for a region"
        time.sleep(1)  # the other change's ticket comes after patchset 2's
    broken, gate.broken_sha = _patchset(gate, BROKEN, 1, "nova: state_path from a setting", _break_nova_conf)
    post_hook(gate.api, broken)

    old = _run_of(gate, CHANGE, 1)
    assert old["result"] == "superseded" and "superseded by patchset 2" in old["reason"], old
    assert [r["labels"] for r in _reviews_of(gerrit_server, first_sha)] == [{}]

    new = _run_of(gate, CHANGE, 2)
    print(f"\nchange {CHANGE}: patchset 1 event to patchset 2's vote: {time.monotonic() - started:.0f} s")
    for run in (old, new):
        print(f"patchset {run['patchset']} ({run['result']}, {run['seconds']:.0f} s):")
        for step in run["steps"]:
            print(f"  {step['step']:<14} {step['seconds']:8.1f} s  {step.get('layers', '')}")
    # patchset 1's region built the role layers of these package states; patchset 2's mounts them
    (region_step,) = [step for step in new["steps"] if step["step"] == "region"]
    assert region_step["layers"] == 4, new["steps"]
    assert new["result"] == "success" and new["region"] == "cand1" and new["envs"] == ["volatile"], new
    (vote,) = _reviews_of(gerrit_server, second_sha)
    assert vote["labels"] == {"Verified": 1} and "PASSED" in vote["message"].splitlines()[0], vote
    assert "  ok      " in vote["message"]  # every step's result and time
    # the other change takes cand1 as soon as it is free: what is left is checked once that one is done
    assert [step["ok"] for step in new["steps"] if step["step"] == "remove region"] == [True], new["steps"]


def _break_nova_conf(text):
    broken = text.replace("state_path: /var/lib/nova", "state_path: '{nova_state_dir}'", 1)
    assert broken != text
    return broken


def _seconds(run, name):
    return sum(step["seconds"] for step in run["steps"] if step["step"] == name)


def test_a_nova_conf_template_error_gets_minus_one_naming_the_stage_and_the_state(gate, gerrit_server):
    """The change posted while patchset 2 held the only region: it waited its turn, then failed."""
    run = _run_of(gate, BROKEN, 1)
    new = _run_of(gate, CHANGE, 2)
    assert run["result"] == "failure", run
    assert _seconds(run, "queue") > _seconds(new, "deploy"), (run["steps"], new["steps"])
    (vote,) = _reviews_of(gerrit_server, gate.broken_sha)
    message = vote["message"]
    print("\n" + message)
    assert vote["labels"] == {"Verified": -1}
    assert "halted at stage precheck on cand1-ctl01:" in message, message
    assert "openstack.nova" in message and "nova_state_dir" in message, message
    _assert_nothing_left(gate_state_dir(gate.lab_settings), gate.master, gate.lab_settings)
