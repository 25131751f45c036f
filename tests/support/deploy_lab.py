"""``deploy.region`` in the lab with the real formula: what the lab end-to-end modules share.

A module imports the fixtures it uses (pytest finds them in its namespace)::

    from tests.support.deploy_lab import deploy_lab_dirs, kit, lab_master_overrides, release  # noqa: F401

and gets, per module: a release store the lab master serves one published tree per environment
from (``test`` then ``staging``), a kit repo that ``kit(name, edit, node_pillar)`` commits the
formula and the lab pillar to, and ``release(name, ...)`` that packages that commit and publishes
it to test.  ``deploy(lab_region, name, **settings)`` runs ``deploy.region`` as an operator does.
"""

import json
import pathlib
import shutil
import subprocess
import time

import pytest
import yaml
from pytestshellutils.utils import ports

from releasetrain.loader import tree_path
from releasetrain.secrets import make_secrets

OPENRC = "/root/admin-openrc"
ENVIRONMENTS = ("test", "staging")

# Each OpenStack source package's versions a release pins: bookworm's point release and security
# update (OpenStack Zed), and trixie's (OpenStack 2025.1 Epoxy; trixie-security has older ones).
BOOKWORM = {
    "keystone": ("2:22.0.2-0+deb12u3", "2:22.0.2-0+deb12u6"),
    "glance": ("2:25.1.0-2+deb12u3", "2:25.1.0-2+deb12u5"),
    "nova": ("2:26.2.2-1~deb12u4", "2:26.2.2-1~deb12u5"),
    "neutron": ("2:21.0.0-7", "2:21.0.0-7+deb12u1"),
}
TRIXIE = {
    "keystone": "2:27.0.0-3+deb13u6",
    "glance": "2:30.0.0-3+deb13u5",
    "nova": "2:31.0.0-6+deb13u3",
    "neutron": "2:26.0.3-0+deb13u3",
}
#: The formula's components and the source package each installs.
COMPONENTS = {
    "keystone": "keystone", "glance": "glance", "nova_controller": "nova", "nova_compute": "nova",
    "neutron_server": "neutron", "neutron_network": "neutron", "neutron_compute": "neutron",
}


def pins(versions):
    """Pillar pinning every OpenStack component to ``versions`` ({source package: version})."""
    return {component: {"version": versions[source]} for component, source in COMPONENTS.items()}


@pytest.fixture(scope="module")
def deploy_lab_dirs(tmp_path_factory):
    """Where this module keeps its release store, its formula+pillar kit repo and the deploy-kit repo."""
    base = tmp_path_factory.mktemp("deploy-lab")
    return {"store": base / "store", "kit": base / "kit", "deploy_kit": base / "deploy-kit",
            "api_port": ports.get_unused_localhost_port()}


def master_config(deploy_lab_dirs):
    """The lab master serves each environment's published tree, as ``releasetrain master-config`` says."""
    store = deploy_lab_dirs["store"]
    envs = store / "envs"
    return {
        "releasetrain": {"store": str(store), "environments": list(ENVIRONMENTS)},
        "file_roots": {
            "base": [tree_path("orchestrate")],
            **{env: [str(envs / env / "states"), tree_path("orchestrate")] for env in ENVIRONMENTS},
        },
        "pillar_roots": {"test": [str(envs / "test" / "pillar")]},
    }


@pytest.fixture(scope="module")
def lab_master_overrides(deploy_lab_dirs):
    return master_config(deploy_lab_dirs)


def git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


def commit_kit(repo, name, secrets, env="test", edit=None, node_pillar=None):
    """Commit the formula and the lab pillar (``edit(region, extra)`` changes them) to the kit repo
    at ``repo``, its pillar top for ``env``; returns the commit."""
    shutil.rmtree(repo / "states", ignore_errors=True)
    shutil.rmtree(repo / "pillar", ignore_errors=True)
    shutil.copytree(tree_path("states"), repo / "states", ignore=shutil.ignore_patterns("__pycache__"))
    pillar = repo / "pillar"
    shutil.copytree(tree_path("pillar") + "/openstack", pillar / "openstack")
    region = yaml.safe_load((pillar / "openstack" / "region" / "lab.sls").read_text())
    extra = {"openstack": {"secrets": secrets}}
    if edit:
        edit(region, extra)
    (pillar / "openstack" / "region" / "lab.sls").write_text(yaml.safe_dump(region))
    (pillar / "openstack" / "run.sls").write_text(yaml.safe_dump(extra))
    top = f"{env}:\n  '*':\n    - openstack.region.lab\n    - openstack.environment.test\n    - openstack.run\n"
    for node, data in (node_pillar or {}).items():  # after '*', so it wins
        (pillar / "openstack" / f"node_{node}.sls").write_text(yaml.safe_dump(data))
        top += f"  '{node}':\n    - openstack.node_{node}\n"
    (pillar / "top.sls").write_text(top)
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", name)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def kit(lab_region, deploy_lab_dirs):
    """``kit(name, pillar_edit, node_pillar)``: commit the formula and the lab pillar (edited) to the
    kit repo; returns the commit."""
    store = deploy_lab_dirs["store"]
    for env in ENVIRONMENTS:  # the master made these folders; the store wants its symlinks there
        tree = store / "envs" / env
        if tree.is_dir() and not tree.is_symlink() and not any(p.is_file() for p in tree.rglob("*")):
            shutil.rmtree(tree)
    secrets = make_secrets()

    def _commit(name, edit=None, node_pillar=None):
        return commit_kit(deploy_lab_dirs["kit"], name, secrets, edit=edit, node_pillar=node_pillar)

    return _commit


def manifest(deploy_lab_dirs, sha):
    return {"repos": [{"name": "kit", "url": str(deploy_lab_dirs["kit"]), "sha": sha, "path": "."}]}


@pytest.fixture(scope="module")
def release(lab_region, kit, deploy_lab_dirs):
    """``release(name, pillar_edit, node_pillar)``: package that kit commit and publish it to test."""

    def _release(name, edit=None, node_pillar=None):
        path = deploy_lab_dirs["kit"].parent / f"{name}.yml"
        path.write_text(json.dumps(manifest(deploy_lab_dirs, kit(name, edit, node_pillar))))
        for args in (("release.package", f"manifest={path}", f"release={name}"), ("release.publish", name, "env=test")):
            ret = lab_region.salt_run_cli.run(*args)
            assert ret.returncode == 0, ret.stdout + ret.stderr

    return _release


def deploy(lab_region, name, mode=None, **settings):
    """``salt-run state.orchestrate deploy.region`` of release ``name`` to test (``mode`` left out:
    the orchestration chooses; ``settings``: the ``deploy`` pillar); prints each step's time."""
    started = time.monotonic()
    pillar = json.dumps({"release": name, "env": "test", "deploy": settings, **({"mode": mode} if mode else {})})
    ret = lab_region.salt_run_cli.run("state.orchestrate", "deploy.region", f"pillar={pillar}", _timeout=5400)
    total = time.monotonic() - started
    print(f"\ndeploy.region {name}: {total:.0f} s")
    print_step_times(ret.data, total)
    return ret


def state_results(data):
    """The orchestration's state results (by state key) wherever salt-run's JSON nests them."""
    if isinstance(data, dict):
        if data and all(isinstance(v, dict) and "__run_num__" in v for v in data.values()):
            return data
        for value in data.values():
            found = state_results(value)
            if found:
                return found
    return {}


def print_step_times(data, total):
    """Each step's wall time and share of the run (for the bench results)."""
    for state in sorted(state_results(data).values(), key=lambda s: s["__run_num__"]):
        seconds = float(state.get("duration") or 0) / 1000
        print(f"  {state.get('__id__', '?'):<48} {seconds:8.1f} s {100 * seconds / total:5.1f} %")


def openstack(lab_region, command):
    """A shell command on ctl01 as admin (openrc sourced); its stdout."""
    result = lab_region.run_in("ctl01", "bash", "-c", f". {OPENRC} && {command}", check=False, timeout=300)
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
    return result.stdout.strip()


def status(lab_region, env="test"):
    return lab_region.salt_run_cli.run("release.status").data["environments"][env]


def run_record(summary):
    """The run's JSON record beside its HTML report; both paths printed for the bench results."""
    report = pathlib.Path(summary["report"])
    print(f"\nrun {summary['run']}: {summary['outcome']} in {summary['seconds']} s; report {report}")
    assert report.is_file() and "<svg" in report.read_text()
    return json.loads(report.with_suffix(".json").read_text())


def print_outages(name, record):
    for service, entry in sorted(record["outages"].items()):
        print(f"  {name:14} {service:10} down {entry['down_seconds']:6.1f} s in {len(entry['windows'])} windows, "
              f"longest {entry['longest']:.1f} s")


def validates(lab_region, token, subject):
    """Keystone validates ``subject`` with ``token`` (the nodes have no curl; python3 is there): HTTP status."""
    check = (
        "python3 -c \"import urllib.request as u; print(u.urlopen(u.Request('http://127.0.0.1:5000/v3/auth/tokens', "
        f"headers={{'X-Auth-Token': '{token}', 'X-Subject-Token': '{subject}'}})).status)\""
    )
    return openstack(lab_region, check)
