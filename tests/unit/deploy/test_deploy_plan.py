"""``releasetrain.deploy``: settings, batches, mode and the plan for bootstrap and upgrade."""

import gzip
import os
import shlex
import subprocess

import pytest

from releasetrain.deploy import plan as deploy_plan, run, settings
from releasetrain.errors import ReleaseTrainError

REGION = {
    "controller": ["ctl02", "ctl01"],
    "network": ["net01"],
    "compute": [f"cmp{n:02d}" for n in range(1, 8)],
}


def plan(mode, region=REGION, **pillar):
    return deploy_plan.build_plan(settings.resolve(pillar), region, "r2", "test", mode, date="20261125T0000Z")


@pytest.mark.parametrize(
    "spec,total,size",
    [("25%", 20, 5), ("25%", 7, 2), ("25%", 1, 1), ("100%", 4, 4), ("3", 10, 3), (2, 10, 2), ("10%", 3, 1)],
)
def test_batch_size(spec, total, size):
    assert deploy_plan.batch_size(spec, total) == size


@pytest.mark.parametrize("spec", ["0", "-1", "0%", "150%", "a quarter", ""])
def test_bad_batch_size_says_what_is_allowed(spec):
    with pytest.raises(ReleaseTrainError, match="deploy:batch must be a positive count or a share"):
        deploy_plan.batch_size(spec, 10)


def test_batches_are_sorted_and_cover_every_node_once():
    assert deploy_plan.batches(["c3", "c1", "c2", "c5", "c4"], "40%") == [["c1", "c2"], ["c3", "c4"], ["c5"]]
    assert deploy_plan.batches([], "25%") == []


@pytest.mark.parametrize(
    "asked,recorded,mode",
    [(None, None, "bootstrap"), (None, True, "upgrade"), ("bootstrap", True, "bootstrap"), ("upgrade", False, "upgrade")],
)
def test_mode_defaults_from_the_recorded_release(asked, recorded, mode):
    assert deploy_plan.choose_mode(asked, recorded) == mode


def test_unknown_mode_is_refused():
    with pytest.raises(ReleaseTrainError, match="mode must be one of bootstrap, upgrade"):
        deploy_plan.choose_mode("sideways", None)


def test_pillar_merges_over_the_defaults_and_keeps_the_rest():
    conf = settings.resolve({"stages": {"compute": "test.compute"}, "targets": {"compute": {"tgt": "G@roles:compute and G@region:n", "tgt_type": "compound"}}})
    assert conf["stages"]["compute"] == ["test.compute"]
    assert conf["stages"]["keystone"] == ["openstack.keystone"]
    assert conf["targets"]["compute"]["tgt_type"] == "compound"
    assert conf["targets"]["controller"] == {"tgt": "roles:controller", "tgt_type": "grain"}
    assert {**settings.DEFAULTS["stages"], "compute": ["test.compute"]} == conf["stages"]  # from stages.yaml: test_formula_stages


def test_bootstrap_order():
    steps = plan("bootstrap", batch="10%", bootstrap_batch="50%")
    assert [(s["stage"], s["targets"]) for s in steps["steps"]] == [
        ("precheck", []),
        ("infra", ["ctl01", "ctl02"]),
        ("keystone", ["ctl01", "ctl02"]),
        ("glance_placement", ["ctl01", "ctl02"]),
        ("nova_control", ["ctl01", "ctl02"]),
        ("neutron_server", ["ctl01", "ctl02"]),
        ("neutron_network", ["net01"]),
        ("compute", ["cmp01", "cmp02", "cmp03", "cmp04"]),  # no canary: no workload to guard yet
        ("compute", ["cmp05", "cmp06", "cmp07"]),
        ("cell_discovery", ["ctl01"]),
        ("smoke", []),
    ]
    glance = steps["steps"][3]
    assert glance["sls"] == ["openstack.glance", "openstack.placement"]
    assert glance["saltenv"] == "test" and glance["pillar"]["deploy"] == {"release": "r2", "env": "test", "stage": "glance_placement"}
    assert all(not s["before"] and not s["after"] for s in steps["steps"]), "new computes are not in Nova yet"
    assert steps["steps"][-2]["sls"] == ["openstack.nova.discover"]


def test_a_bootstrap_applies_every_compute_at_once_unless_told_otherwise():
    computes = [(s["id"], s["targets"]) for s in plan("bootstrap")["steps"] if s["stage"] == "compute"]
    assert computes == [("08-compute-batch1of1", REGION["compute"])]


def test_a_bootstrap_can_install_every_nodes_packages_at_once_first():
    steps = plan("bootstrap", bootstrap_packages=["openstack.roles.packages"])["steps"]
    assert [(s["id"], s["targets"], s["sls"]) for s in steps[:3]] == [
        ("01-precheck", [], []),
        ("02-packages", sorted(n for nodes in REGION.values() for n in nodes), ["openstack.roles.packages"]),
        ("03-infra", ["ctl01", "ctl02"], ["openstack.infra"])]
    assert steps[1]["gate"] == []
    assert "packages" not in [s["stage"] for s in plan("bootstrap")["steps"]]
    assert "packages" not in [s["stage"] for s in plan("upgrade", bootstrap_packages=["x"])["steps"]]


@pytest.mark.parametrize("value", ["openstack.roles.packages", [""], [3], None])
def test_bad_bootstrap_packages_are_one_line(value):
    with pytest.raises(ReleaseTrainError, match="^deploy:bootstrap_packages must be a list of SLS names"):
        settings.resolve({"bootstrap_packages": value})


def test_upgrade_order_one_controller_at_a_time_then_network_then_compute_batches():
    steps = plan("upgrade")["steps"]
    assert [(s["stage"], s["targets"]) for s in steps] == [
        ("precheck", []),
        ("controller", ["ctl01"]),
        ("controller", ["ctl02"]),
        ("neutron_network", ["net01"]),
        ("compute", ["cmp01"]),  # the canary, alone
        ("compute", ["cmp02", "cmp03"]),
        ("compute", ["cmp04", "cmp05"]),
        ("compute", ["cmp06", "cmp07"]),
        ("cell_discovery", ["ctl01"]),
        ("smoke", []),
    ]
    assert [s["pillar"]["deploy"].get("db_sync") for s in steps[1:3]] == [True, False]
    assert "openstack.keystone" in steps[1]["sls"] and "openstack.neutron.server" in steps[1]["sls"]


def test_upgrade_prechecks_skip_missing_tools_and_back_up_to_a_dated_file():
    precheck = plan("upgrade")["steps"][0]
    commands = [c["cmd"] for c in precheck["commands"]]
    assert all(c["node"] == "ctl01" for c in precheck["commands"])
    assert commands[0].startswith("if command -v nova-status >/dev/null 2>&1; then nova-status upgrade check;")
    assert "/var/backups/releasetrain/mysql-test-r2-20261125T0000Z.sql.gz" in commands[-1]
    assert "mariadb-dump --all-databases --single-transaction" in commands[-1]


def test_each_compute_is_disabled_before_its_batch_and_enabled_after():
    batch = plan("upgrade", canary=0)["steps"][4]
    assert [c["cmd"] for c in batch["before"]] == [
        "openstack compute service set --disable --disable-reason 'releasetrain r2' cmp01 nova-compute"
        " && openstack compute service set --disable --disable-reason 'releasetrain r2' cmp02 nova-compute",
    ]
    assert [c["cmd"] for c in batch["after"]] == [
        "openstack compute service set --enable cmp01 nova-compute"
        " && openstack compute service set --enable cmp02 nova-compute",
    ]
    assert {c["node"] for c in batch["before"] + batch["after"]} == {"ctl01"}


def test_health_gates_cover_the_batch_and_ask_the_controller_about_its_agents():
    batch = plan("upgrade", canary=0)["steps"][4]
    assert batch["gate"][0] == {
        "nodes": ["cmp01", "cmp02"],
        "checks": {"components": ["nova_compute", "neutron_compute"], "saltenv": "test"},
    }
    assert batch["gate"][1] == {
        "nodes": ["ctl01"],
        "checks": {"agents": {"hosts": ["cmp01", "cmp02"], "kinds": ["nova", "neutron"]}, "openrc": "/root/admin-openrc"},
    }
    network = plan("upgrade")["steps"][3]
    assert network["gate"][1]["checks"]["agents"] == {"hosts": ["net01"], "kinds": ["neutron"]}
    smoke = plan("upgrade")["steps"][-1]
    assert smoke["gate"][0]["checks"]["agents"] == {"hosts": [], "kinds": ["nova", "neutron"]}
    controller = plan("upgrade")["steps"][1]
    assert {node for probe in controller["gate"] for node in probe["nodes"]} == {"ctl01"}
    assert "keystone" in str(controller["gate"])
    assert all(probe["checks"]["saltenv"] == "test" for probe in controller["gate"] if "components" in probe["checks"])


def test_explicit_services_in_the_pillar_stay_as_they_are():
    compute = {"compute": [{"on": "batch", "checks": {"services": ["libvirtd", "nova-compute"]}}]}
    batch = plan("upgrade", health=compute, canary=0)["steps"][4]
    assert batch["gate"] == [{"nodes": ["cmp01", "cmp02"], "checks": {"services": ["libvirtd", "nova-compute"]}}]


def test_hostile_host_names_are_quoted():
    steps = plan("upgrade", region={**REGION, "compute": ["a;rm -rf /"]})["steps"]
    compute = next(s for s in steps if s["stage"] == "compute")
    assert "'a;rm -rf /' nova-compute" in compute["before"][0]["cmd"]


def test_a_region_without_controllers_is_refused_with_what_to_check():
    with pytest.raises(ReleaseTrainError, match="no controller answered"):
        plan("bootstrap", region={"compute": ["cmp01"]})


def test_a_missing_stage_mapping_is_named():
    conf = settings.resolve()
    del conf["stages"]["keystone"]
    with pytest.raises(ReleaseTrainError, match="no SLS list for stage 'keystone'"):
        deploy_plan.build_plan(conf, REGION, "r2", "test", "bootstrap")


def test_state_outcome_names_failed_states_in_run_order():
    ret = {
        "cmd_|-b_|-b_|-run": {"__id__": "b", "result": False, "comment": "boom", "changes": {}, "__run_num__": 1},
        "file_|-a_|-a_|-managed": {"__id__": "a", "result": True, "comment": "", "changes": {"diff": "x"}, "__run_num__": 0},
        "file_|-c_|-c_|-managed": {"__id__": "c", "result": None, "comment": "would change", "changes": {}, "__run_num__": 2},
    }
    changes, failures = run.state_outcome(ret)
    assert failures == ["b: boom"]
    assert changes == {"a": {"diff": "x"}, "c": {"would": "would change"}}
    assert run.state_outcome(["Rendering SLS 'test:trace' failed: bad"]) == ({}, ["Rendering SLS 'test:trace' failed: bad"])


def test_step_failed_names_stage_node_and_reason():
    assert str(run.StepFailed("compute", "cmp02", "health gate: service:nova-compute: not running")) == (
        "stage compute failed on cmp02: health gate: service:nova-compute: not running"
    )


@pytest.mark.parametrize("mode", ["bootstrap", "upgrade"])
def test_every_role_renders_its_sls_before_anything_changes(mode):
    precheck = plan(mode)["steps"][0]
    assert precheck["stage"] == "precheck"
    assert [(r["stage"], r["targets"], r["sls"][-1]) for r in precheck["render"]] == [
        ("controller", ["ctl01", "ctl02"], "openstack.neutron.server"),
        ("neutron_network", ["net01"], "openstack.neutron.network"),
        ("compute", REGION["compute"], "openstack.neutron.compute"),
    ]


@pytest.mark.parametrize("mode", ["bootstrap", "upgrade"])
def test_every_node_syncs_the_health_module_first(mode):
    precheck = plan(mode)["steps"][0]
    assert precheck["sync"] == sorted(["ctl01", "ctl02", "net01", *REGION["compute"]])


@pytest.mark.parametrize("dump, kept", [
    ("echo 'CREATE TABLE t (a int);'; echo '-- Dump completed on 2026-12-02 18:00:00'", True),
    ("echo 'CREATE TABLE t (a int);'; exit 2", False),  # died half way: gzip still makes a valid file
    ("echo '-- Dump completed on 2026-12-02'; echo 'trailing junk'", False),
])
def test_the_backup_is_kept_only_when_it_reads_back_complete(tmp_path, dump, kept):
    """The configured backup command, run by sh with a stand-in mariadb-dump on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mariadb-dump"
    fake.write_text(f"#!/bin/sh\n{dump}\n")
    fake.chmod(0o755)
    path = tmp_path / "backups" / "mysql-test-r2.sql.gz"
    command = settings.DEFAULTS["commands"]["backup"].format(path=shlex.quote(str(path)))
    result = subprocess.run(["sh", "-c", command], env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
                            capture_output=True, text=True, check=False)
    assert (result.returncode == 0) is kept, result.stderr
    assert path.exists() is kept
    if kept:
        assert gzip.decompress(path.read_bytes()).decode().endswith("-- Dump completed on 2026-12-02 18:00:00\n")


def test_the_canary_goes_first_alone_and_the_rest_follow_in_batches():
    steps = [s for s in plan("upgrade", canary=2)["steps"] if s["stage"] == "compute"]
    assert [(s["id"].split("-", 1)[1], s["targets"]) for s in steps] == [
        ("compute-canary", ["cmp01", "cmp02"]),
        ("compute-batch1of3", ["cmp03", "cmp04"]),
        ("compute-batch2of3", ["cmp05", "cmp06"]),
        ("compute-batch3of3", ["cmp07"]),
    ]
    assert [s["targets"] for s in plan("upgrade", canary=0)["steps"] if s["stage"] == "compute"][0] == ["cmp01", "cmp02"]
    one = {**REGION, "compute": ["cmp01"]}
    assert [s["id"] for s in plan("upgrade", region=one)["steps"] if s["stage"] == "compute"] == ["05-compute-canary"]
    assert deploy_plan.batches(["c2", "c1", "c3"], "100%", canary=5) == [["c1", "c2", "c3"]]


@pytest.mark.parametrize("value", [-1, "1", 1.5, True, None])
def test_a_bad_canary_is_one_line_naming_the_key(value):
    with pytest.raises(ReleaseTrainError) as info:
        plan("upgrade", canary=value)
    assert str(info.value) == f"deploy:canary must be a count of computes, 0 or more, not {value!r}"
