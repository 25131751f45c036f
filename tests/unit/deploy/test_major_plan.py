"""Mode major: the offline upgrade's steps, and the guard against a distribution or OpenStack
major change outside it."""

import re
import subprocess

import pytest

from releasetrain import config as rt_config
from releasetrain.deploy import plan as deploy_plan, run, settings
from releasetrain.errors import ReleaseTrainError

REGION = {"controller": ["ctl02", "ctl01"], "network": ["net01"], "compute": ["cmp01", "cmp02", "cmp03"]}
WORKAROUND = {"/etc/nova/nova.conf": {"workarounds": {"disable_compute_service_check_for_ffu": True}}}


def major(region=REGION, distribution="trixie", **pillar):
    pillar.setdefault("canary", 0)  # the canary batch: tests/unit/deploy/test_deploy_plan.py
    return deploy_plan.build_plan(settings.resolve(pillar), region, "r2", "test", "major",
                                  date="20261125T0000Z", distribution=distribution)


def role_by_role(region=REGION, **pillar):
    """The plan with ``deploy:major:together`` false: each role's nodes move just before their stages."""
    pillar["major"] = {"together": False, **pillar.get("major", {})}
    return major(region, **pillar)


def workaround(step, component="nova_controller"):
    return ((step["pillar"].get("openstack") or {}).get(component) or {}).get("config")


def test_role_by_role_step_order_and_targets():
    steps = role_by_role(batch="2")["steps"]
    assert [(s["id"], s["targets"]) for s in steps] == [
        ("01-precheck", []),
        ("02-stop", ["ctl01", "ctl02"]),
        ("03-distribution-controller", ["ctl01", "ctl02"]),
        ("04-infra", ["ctl01"]),
        ("05-keystone", ["ctl01"]),
        ("06-glance_placement", ["ctl01"]),
        ("07-nova_control", ["ctl01"]),
        ("08-neutron_server", ["ctl01"]),
        ("09-controller-ctl02", ["ctl02"]),
        ("10-distribution-network", ["net01"]),
        ("11-neutron_network-batch1of1", ["net01"]),
        ("12-distribution-compute", ["cmp01", "cmp02", "cmp03"]),
        ("13-compute-batch1of2", ["cmp01", "cmp02"]),
        ("14-compute-batch2of2", ["cmp03"]),
        ("15-cell_discovery", ["ctl01"]),
        ("16-nova_control-workaround-off", ["ctl01", "ctl02"]),
        ("17-compute-workaround-off", ["cmp01", "cmp02", "cmp03"]),
        ("18-smoke", []),
    ]


def test_sls_per_role():
    steps = {s["id"]: s for s in role_by_role()["steps"]}
    assert steps["02-stop"]["sls"] == ["openstack.upgrade.stop"]
    assert steps["03-distribution-controller"]["sls"] == [
        "openstack.upgrade.rabbitmq", "openstack.upgrade.distribution", "openstack.upgrade.mariadb"]
    assert steps["10-distribution-network"]["sls"] == ["openstack.upgrade.distribution"]
    assert steps["12-distribution-compute"]["sls"] == ["openstack.upgrade.distribution"]
    assert steps["04-infra"]["sls"] == ["openstack.infra"]
    assert steps["07-nova_control"]["sls"] == ["openstack.nova.controller"]
    assert steps["09-controller-ctl02"]["sls"] == [
        "openstack.infra", "openstack.keystone", "openstack.glance", "openstack.placement",
        "openstack.nova.controller", "openstack.neutron.server"]
    assert steps["13-compute-batch1of3"]["sls"] == ["openstack.nova.compute", "openstack.neutron.compute"]


def test_pillar_per_step_db_sync_distribution_and_the_workaround():
    steps = role_by_role()["steps"]
    by_id = {s["id"]: s for s in steps}
    for step in steps:
        deploy = step["pillar"]["deploy"]
        assert deploy["release"] == "r2" and deploy["env"] == "test" and deploy["stage"] == step["stage"]
        if step["stage"] in ("precheck", "stop", "distribution"):
            assert deploy["distribution"] == "trixie", step["id"]
    for step_id in ("04-infra", "05-keystone", "06-glance_placement", "07-nova_control", "08-neutron_server"):
        assert by_id[step_id]["pillar"]["deploy"]["db_sync"] is True
        assert workaround(by_id[step_id]) == WORKAROUND
    assert by_id["09-controller-ctl02"]["pillar"]["deploy"]["db_sync"] is False
    assert workaround(by_id["09-controller-ctl02"]) == WORKAROUND
    off = next(s for s in steps if s["id"].endswith("-nova_control-workaround-off"))
    assert workaround(off) is None and off["sls"] == ["openstack.nova.controller"]
    compute_off = next(s for s in steps if s["id"].endswith("-compute-workaround-off"))
    assert workaround(compute_off, "nova_compute") is None and compute_off["sls"] == [
        "openstack.nova.compute", "openstack.neutron.compute"]
    assert compute_off["targets"] == ["cmp01", "cmp02", "cmp03"] and compute_off["gate"]
    assert [s["id"] for s in steps if workaround(s)] == [
        "04-infra", "05-keystone", "06-glance_placement", "07-nova_control", "08-neutron_server", "09-controller-ctl02",
        "13-compute-batch1of3", "14-compute-batch2of3", "15-compute-batch3of3"]
    # nova-compute refuses to start beside older computes' records too (TooOldComputeService): the
    # compute batches run with the workaround until the late step takes it off everywhere
    assert [s["id"] for s in steps if workaround(s, "nova_compute")] == [s["id"] for s in steps if workaround(s)]
    assert workaround(by_id["13-compute-batch1of3"], "nova_compute") == WORKAROUND


def test_precheck_runs_checks_migrations_and_backup_on_the_first_controller():
    precheck = role_by_role()["steps"][0]
    whats = [c["what"] for c in precheck["commands"]]
    assert whats == ["nova-status upgrade check", "placement-status upgrade check", "glance-status upgrade check",
                     "cinder-status upgrade check", "neutron-status upgrade check", "nova online data migrations",
                     "backup"]
    assert {c["node"] for c in precheck["commands"]} == {"ctl01"}
    assert "mysql-test-r2-20261125T0000Z.sql.gz" in precheck["commands"][-1]["cmd"]
    assert "[ $i -ge 20 ]" in precheck["commands"][5]["cmd"]
    assert precheck["sync"] == ["cmp01", "cmp02", "cmp03", "ctl01", "ctl02", "net01"]
    render = {group["stage"]: (group["targets"], group["sls"]) for group in precheck["render"]}
    assert render["distribution-controller"] == (["ctl01", "ctl02"], [
        "openstack.upgrade.stop", "openstack.upgrade.rabbitmq", "openstack.upgrade.distribution",
        "openstack.upgrade.mariadb"])
    assert render["distribution-compute"] == (["cmp01", "cmp02", "cmp03"], ["openstack.upgrade.distribution"])
    assert render["controller"][1][0] == "openstack.infra"


def test_online_migrations_after_nova_control_and_gates_on_the_first_controller_only():
    by_id = {s["id"]: s for s in role_by_role()["steps"]}
    nova = by_id["07-nova_control"]
    assert [c["what"] for c in nova["after"]] == ["nova online data migrations"]
    for step_id in ("04-infra", "05-keystone", "07-nova_control", "08-neutron_server"):
        assert by_id[step_id]["gate"] and all(p["nodes"] == ["ctl01"] for p in by_id[step_id]["gate"])
    for step_id in ("02-stop", "03-distribution-controller", "10-distribution-network", "12-distribution-compute"):
        assert by_id[step_id]["gate"] == []
        assert by_id[step_id].get("refresh_grains") is (step_id != "02-stop" or None)


def test_computes_are_disabled_before_their_distribution_and_enabled_after_their_batch():
    by_id = {s["id"]: s for s in role_by_role(batch="2")["steps"]}
    disable = by_id["12-distribution-compute"]["before"]
    assert len(disable) == 1 and disable[0]["node"] == "ctl01" and disable[0]["what"] == "compute disable"
    assert all(f"--disable-reason 'releasetrain r2' {h} nova-compute" in disable[0]["cmd"]
               for h in ("cmp01", "cmp02", "cmp03"))
    batch = by_id["13-compute-batch1of2"]
    assert batch["before"] == []
    assert batch["after"][0]["cmd"].count("--enable") == 2


def test_a_region_without_network_nodes_or_computes():
    steps = role_by_role({"controller": ["ctl01"]})["steps"]
    assert [s["id"] for s in steps] == [
        "01-precheck", "02-stop", "03-distribution-controller", "04-infra", "05-keystone",
        "06-glance_placement", "07-nova_control", "08-neutron_server", "09-nova_control-workaround-off", "10-smoke"]


def test_major_needs_a_target_distribution():
    with pytest.raises(ReleaseTrainError, match="mode major needs the release's target distribution"):
        major(distribution=None)


def test_the_distribution_sls_per_role_come_from_the_deploy_pillar():
    steps = role_by_role(major={"distribution": {"compute": ["site.upgrade"]}})["steps"]
    assert {s["id"]: s["sls"] for s in steps}["12-distribution-compute"] == ["site.upgrade"]
    assert steps[2]["sls"][0] == "openstack.upgrade.rabbitmq"


def test_together_every_node_moves_in_one_step_after_the_stop_with_its_roles_sls():
    steps = major(batch="2")["steps"]  # the default
    assert steps == major(batch="2", major={"together": True})["steps"]
    assert [(s["id"], s["targets"]) for s in steps] == [
        ("01-precheck", []),
        ("02-stop", ["ctl01", "ctl02"]),
        ("03-distribution-all", ["cmp01", "cmp02", "cmp03", "ctl01", "ctl02", "net01"]),
        ("04-infra", ["ctl01"]),
        ("05-keystone", ["ctl01"]),
        ("06-glance_placement", ["ctl01"]),
        ("07-nova_control", ["ctl01"]),
        ("08-neutron_server", ["ctl01"]),
        ("09-controller-ctl02", ["ctl02"]),
        ("10-neutron_network-batch1of1", ["net01"]),
        ("11-compute-batch1of2", ["cmp01", "cmp02"]),
        ("12-compute-batch2of2", ["cmp03"]),
        ("13-cell_discovery", ["ctl01"]),
        ("14-nova_control-workaround-off", ["ctl01", "ctl02"]),
        ("15-compute-workaround-off", ["cmp01", "cmp02", "cmp03"]),
        ("16-smoke", []),
    ]
    by_id = {s["id"]: s for s in steps}
    # the computes are disabled while Nova's API still answers: before the stop, not in their batches
    disable = by_id["02-stop"]["before"]
    assert len(disable) == 1 and disable[0]["node"] == "ctl01" and disable[0]["what"] == "compute disable"
    assert all(f"--disable-reason 'releasetrain r2' {h} nova-compute" in disable[0]["cmd"]
               for h in ("cmp01", "cmp02", "cmp03"))
    assert by_id["11-compute-batch1of2"]["before"] == [] and by_id["11-compute-batch1of2"]["after"]
    moving = by_id["03-distribution-all"]
    assert moving["sls"] == ["openstack.upgrade.node"] and moving.get("refresh_grains") is True
    assert moving["pillar"]["deploy"]["distribution"] == "trixie"
    assert moving["pillar"]["deploy"]["distribution_sls"] == settings.DEFAULTS["major"]["distribution"]
    assert role_by_role()["steps"][2]["id"] == "03-distribution-controller"


def test_together_resumed_disables_each_batch_instead_the_stopped_api_cannot():
    plan = deploy_plan.build_plan(settings.resolve({"canary": 0, "major": {"together": True}}), REGION, "r2", "test",
                                  "major", date="D", distribution="trixie", moved=["ctl01", "ctl02"])
    by_id = {s["id"]: s for s in plan["steps"]}
    assert by_id["02-stop"]["before"] == []
    batch = next(s for s in plan["steps"] if s["stage"] == "compute")
    assert batch["before"] and "--disable " in batch["before"][0]["cmd"]


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_together_is_true_or_false(value):
    with pytest.raises(ReleaseTrainError, match=r"^deploy:major:together must be true or false, not "):
        settings.resolve({"major": {"together": value}})


@pytest.mark.parametrize("recorded", [None, True])
def test_choose_mode_never_picks_major(recorded):
    assert deploy_plan.choose_mode(None, recorded) != "major"
    assert deploy_plan.choose_mode("major", recorded) == "major"


def test_a_failed_check_names_it_in_the_halted_reason():
    step = major()["steps"][0]

    def call(targets, fun, args, kwargs):
        assert (fun, args, kwargs["python_shell"]) == ("cmd.run_all", [], True)
        if "online_data_migrations" in kwargs["cmd"]:
            return {targets[0]: {"ret": {"retcode": 1, "stdout": "", "stderr": "still incomplete"}, "retcode": 1}}
        return {targets[0]: {"ret": {"retcode": 0, "stdout": "ok", "stderr": ""}, "retcode": 0}}

    with pytest.raises(run.StepFailed) as failed:
        run.run_commands(step, step["commands"], call, test=False)
    assert str(failed.value).startswith("stage precheck failed on ctl01: nova online data migrations: ")


def test_online_migrations_loop_until_done_and_fail_after_the_rounds(tmp_path):
    command = major()["steps"][0]["commands"][5]["cmd"]

    def shell(codes, rounds=None):
        script = tmp_path / "codes"
        script.write_text("\n".join(str(c) for c in codes) + "\n")
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        (fake / "runuser").write_text(
            f"#!/bin/sh\nn=$(head -n1 {script}); sed -i 1d {script}; exit ${{n:-0}}\n")
        (fake / "runuser").chmod(0o755)
        text = command.replace("[ $i -ge 20 ]", f"[ $i -ge {rounds} ]") if rounds else command
        return subprocess.run(["sh", "-c", text], env={"PATH": f"{fake}:/usr/bin:/bin"},
                              capture_output=True, text=True, check=False)

    assert shell([1, 1, 0]).returncode == 0
    failed = shell([1, 2])
    assert failed.returncode == 2 and "exited 2" in failed.stderr
    stuck = shell([1, 1, 1, 1], rounds=3)
    assert stuck.returncode == 1 and "nova online data migrations still incomplete after 3 rounds" in stuck.stderr


@pytest.mark.parametrize("version, major_version", [
    ("2:26.2.1-1", 26), ("26.2.1", 26), ("1:11.8.1-5", 11), ("3.10.8-1.1", 3), ("", None), (None, None),
    ("2:31.0.0~rc1-2", 31),
])
def test_upstream_major(version, major_version):
    assert deploy_plan.upstream_major(version) == major_version


PACKAGES = {"nova_controller": ["nova-api", "nova-conductor"], "keystone": ["keystone"]}


def test_major_changes_names_the_installed_packages_whose_major_moves():
    installed = {"nova-api": "2:26.2.1-1", "nova-conductor": "2:26.2.1-1", "keystone": "2:22.0.2-0+deb12u6"}
    assert deploy_plan.major_changes({"nova_controller": "2:31.0.0-2", "keystone": "2:22.0.2-0+deb12u3"},
                                     installed, PACKAGES) == [
        ("nova-api", "2:26.2.1-1", "2:31.0.0-2"), ("nova-conductor", "2:26.2.1-1", "2:31.0.0-2")]
    assert deploy_plan.major_changes({"nova_controller": "2:31.0.0-2"}, {"nova-api": ""}, PACKAGES) == []
    assert deploy_plan.major_changes({}, installed, PACKAGES) == []


def facts(codename="bookworm", distribution=None, pins=None, installed=None, nodes=("ctl01", "cmp01")):
    return {node: {"oscodename": codename, "distribution": distribution, "pins": pins or {},
                   "installed": installed or {}} for node in nodes}


def test_a_trixie_release_in_upgrade_mode_on_a_bookworm_region_is_refused_in_one_line():
    with pytest.raises(ReleaseTrainError) as refused:
        deploy_plan.guard("upgrade", facts(distribution="trixie"), PACKAGES)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("the release runs on trixie but cmp01, ctl01 on bookworm: mode upgrade")
    assert "mode=major" in message


def test_bootstrap_is_refused_too_and_major_allowed_also_when_already_there():
    with pytest.raises(ReleaseTrainError, match="mode bootstrap does not change distributions"):
        deploy_plan.guard("bootstrap", facts(distribution="trixie"), PACKAGES)
    assert deploy_plan.guard("major", facts(distribution="trixie"), PACKAGES) == "trixie"
    assert deploy_plan.guard("major", facts("trixie", distribution="trixie"), PACKAGES) == "trixie"  # resume
    assert deploy_plan.guard("upgrade", facts("trixie", distribution="trixie"), PACKAGES) == "trixie"
    assert deploy_plan.guard("upgrade", facts(), PACKAGES) is None  # ~: the nodes' own


def test_major_without_a_distribution_and_disagreeing_nodes_are_refused():
    with pytest.raises(ReleaseTrainError, match="no node has pillar openstack:distribution"):
        deploy_plan.guard("major", facts(), PACKAGES)
    mixed = {**facts(distribution="trixie", nodes=["ctl01"]), **facts(distribution="forky", nodes=["cmp01"])}
    with pytest.raises(ReleaseTrainError, match=r"openstack:distribution differs \(forky, trixie\)"):
        deploy_plan.guard("major", mixed, PACKAGES)


def test_pins_that_change_the_openstack_major_are_refused_outside_major_naming_the_packages():
    region = facts(pins={"nova_controller": "2:31.0.0-2"}, installed={"nova-api": "2:26.2.1-1"}, nodes=["ctl01"])
    with pytest.raises(ReleaseTrainError, match=r"ctl01: nova-api 2:26.2.1-1 -> 2:31.0.0-2\); mode upgrade"):
        deploy_plan.guard("upgrade", region, PACKAGES)
    region["ctl01"]["distribution"] = "bookworm"
    with pytest.raises(ReleaseTrainError, match="change the OpenStack major"):
        deploy_plan.guard("upgrade", region, PACKAGES)
    region["ctl01"]["distribution"] = "trixie"
    assert deploy_plan.guard("major", region, PACKAGES) == "trixie"
    region["ctl01"]["packages"] = {"nova_controller": ["python3-nova"]}  # the pillar's pkgs
    region["ctl01"]["distribution"] = None
    assert deploy_plan.guard("upgrade", region, PACKAGES) is None


def test_formula_packages_are_the_components_pkgs():
    packages = settings.formula_packages()
    assert packages["keystone"] == ["keystone", "python3-keystone"]
    assert "nova-api" in packages["nova_controller"] and "rabbitmq-server" in packages["rabbitmq"]


@pytest.fixture
def published(tmp_path, monkeypatch):
    config = rt_config.load({"releasetrain": {"store": str(tmp_path / "store"), "cache": str(tmp_path / "cache")}})
    monkeypatch.setattr(deploy_plan, "Store", lambda _config: type("S", (), {
        "current": lambda self, env: "r2", "history": lambda self, env: [{"action": "verify"}],
        "previous": lambda self, env: "r1", "runs_dir": str(tmp_path / "store" / "runs")})())
    return config


def ping(target, tgt_type, timeout):
    role = target.split(":")[1]
    return REGION[role], REGION[role]


def test_plan_release_asks_the_nodes_and_refuses_before_planning(published):
    asked = []

    def inspect(minions, packages):
        asked.append((minions, sorted(packages)))
        return facts(distribution="trixie", nodes=minions)

    with pytest.raises(ReleaseTrainError, match="mode upgrade does not change distributions"):
        deploy_plan.plan_release(published, "r2", "test", None, None, "D", ping, inspect=inspect)
    assert asked[0][0] == ["cmp01", "cmp02", "cmp03", "ctl01", "ctl02", "net01"]
    assert "nova_controller" in asked[0][1]
    result = deploy_plan.plan_release(published, "r2", "test", "major", None, "D", ping, inspect=inspect)
    assert result["mode"] == "major" and result["distribution"] == "trixie"
    assert result["steps"][1]["pillar"]["deploy"]["distribution"] == "trixie"


def test_the_agents_a_new_release_retired_are_deleted_per_host_before_its_gate():
    steps = {step["id"]: step for step in major()["steps"]}
    network = next(step for step in steps.values() if step["stage"] == "neutron_network")
    (retire,) = network["commands"]
    assert retire["node"] == "ctl01" and retire["what"] == "retire old agents"
    assert retire["cmd"].startswith("openstack network agent list --host net01 --agent-type linux-bridge ")
    computes = [step for step in steps.values() if step["stage"] == "compute" and "workaround" not in step["id"]]
    assert [sorted(set(re.findall(r"--host (\S+)", step["commands"][0]["cmd"]))) for step in computes] == [
        step["targets"] for step in computes]
    assert all(step["gate"] for step in computes)  # the gate runs after the commands (run_step's order)
    assert not any(step["commands"] for step in major(major={"retire_agents": []})["steps"]
                   if step["stage"] in ("compute", "neutron_network"))
    upgrade = deploy_plan.build_plan(settings.resolve({}), REGION, "r2", "test", "upgrade")
    assert not any("agent delete" in entry["cmd"] for step in upgrade["steps"] for entry in step["commands"])


def test_a_major_run_resumed_on_moved_controllers_leaves_out_the_old_releases_checks(published):
    """The halted run passed them and took the backup; Epoxy's nova-status would judge a schema
    its own migrations left half done. The migrations after nova_control still run."""
    moved = {"ctl01": "trixie", "ctl02": "trixie", "net01": "trixie"}

    def inspect(minions, packages):
        everything = facts(distribution="trixie", nodes=minions)
        for minion in minions:
            everything[minion]["oscodename"] = moved.get(minion, "bookworm")
        return everything

    resumed = deploy_plan.plan_release(published, "r2", "test", "major", None, "D", ping, inspect=inspect)
    precheck = resumed["steps"][0]
    assert precheck["commands"] == [] and precheck["render"] and precheck["sync"]
    nova = next(step for step in resumed["steps"] if step["stage"] == "nova_control")
    assert [c["what"] for c in nova["after"]] == ["nova online data migrations"]
    assert [s["id"] for s in resumed["steps"]] == [s["id"] for s in major(canary=1)["steps"]]
    moved.pop("ctl02")  # one controller still on the old release: its checks run
    partly = deploy_plan.plan_release(published, "r2", "test", "major", None, "D", ping, inspect=inspect)
    assert [c["what"] for c in partly["steps"][0]["commands"]][-2:] == ["nova online data migrations", "backup"]
