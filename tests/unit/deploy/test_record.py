"""The run record: the catalog read for the API probe, the record written after each step, the
outage gate, the run settings checked before any node is touched, and when rollback refuses."""

import json

import pytest

from releasetrain.deploy import plan as deploy_plan
from releasetrain.deploy import record as deploy_record
from releasetrain.deploy import rollback as deploy_rollback
from releasetrain.deploy import run as deploy_run
from releasetrain.deploy import settings
from releasetrain.errors import ReleaseTrainError

CATALOG = [
    {"ID": "1", "Service Name": "keystone", "Interface": "public", "Enabled": True, "URL": "http://10.0.0.11:5000/v3/"},
    {"ID": "2", "Service Name": "keystone", "Interface": "internal", "Enabled": True, "URL": "http://internal:5000/v3/"},
    {"ID": "3", "Service Name": "nova", "Interface": "public", "Enabled": True, "URL": "http://10.0.0.11:8774/v2.1"},
    {"ID": "4", "Service Name": "cinder", "Interface": "public", "Enabled": True,
     "URL": "http://10.0.0.11:8776/v3/%(tenant_id)s"},
    {"ID": "5", "Service Name": "glance", "Interface": "public", "Enabled": False, "URL": "http://10.0.0.11:9292"},
]


def test_the_catalog_gives_each_wanted_services_public_url():
    text = json.dumps(CATALOG)
    assert deploy_record.catalog_endpoints(text, ["keystone", "nova", "glance"]) == {
        "keystone": "http://10.0.0.11:5000/v3/", "nova": "http://10.0.0.11:8774/v2.1"}
    assert deploy_record.catalog_endpoints(text)["cinder"] == "http://10.0.0.11:8776/v3/"  # substitution cut off


@pytest.mark.parametrize("text, problem", [
    ("", "not a JSON list"), ("{}", "not a JSON list"), ("[1, 2]", "no public endpoint"),
    (json.dumps(CATALOG), "no public endpoint for placement"),
])
def test_a_catalog_without_what_the_probe_needs_is_one_line(text, problem):
    services = ["placement"] if "placement" in problem else None
    with pytest.raises(ReleaseTrainError, match=problem):
        deploy_record.catalog_endpoints(text, services)


class FakeProbe:
    """Stands in for the probe's threads only: the outage numbers are the record's input here."""

    def __init__(self, endpoints, interval, timeout):
        self.endpoints, self.started, self.stopped = endpoints, False, False
        self.seen = {service: {"url": url, "asked": 3, "windows": [], "down_seconds": 0.0, "longest": 0.0}
                     for service, url in endpoints.items()}

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True

    def report(self):
        return json.loads(json.dumps(self.seen))


def call_with(catalog_ret, versions):
    calls = []

    def call(targets, fun, args, kwargs):
        calls.append((list(targets), fun, list(args), dict(kwargs)))
        if fun == "cmd.run_all":
            return {targets[0]: {"ret": catalog_ret, "retcode": 0}}
        if fun == "pkg.version":
            return {node: {"ret": versions(node)} for node in targets}
        raise AssertionError(fun)

    return call, calls


def run_conf(tmp_path, **extra):
    return {"id": "test-r2-20261203T000000Z", "release": "r2", "env": "test", "mode": "upgrade", "previous": "r1",
            "directory": str(tmp_path / "runs"), "on_failure": "halt", "nodes": ["ctl01", "cmp01"],
            "packages": ["nova-api", "nova-compute"], "settings": {},
            "probe": {"node": "ctl01", "command": "openstack endpoint list --interface public -f json",
                      "openrc": "/root/admin-openrc", "services": ["keystone", "nova"], "interval": 1, "timeout": 2},
            **extra}


def test_a_run_records_steps_versions_and_outages_and_closes(tmp_path):
    installed = {"ctl01": {"nova-api": "2:26.2.1-1", "nova-compute": ""}, "cmp01": {"nova-api": "", "nova-compute": "2:26.2.1-1"}}
    call, calls = call_with({"retcode": 0, "stdout": json.dumps(CATALOG)}, lambda node: installed[node])
    run = deploy_record.begin(run_conf(tmp_path, max_api_outage={"nova": 5}), call, make_probe=FakeProbe)
    assert calls[0][1] == "cmd.run_all" and calls[0][3]["cmd"].startswith("if [ -r /root/admin-openrc ]")
    assert run.probe.started and deploy_record.get(run.data["run"]) is run
    assert run.data["versions"] == {"ctl01": {"before": {"nova-api": "2:26.2.1-1"}},
                                    "cmp01": {"before": {"nova-compute": "2:26.2.1-1"}}}
    run.add_step({"id": "02-controller-ctl01", "stage": "controller", "targets": ["ctl01"]},
                 "2026-12-03T00:00:01+00:00", 12.345, True, "applied", {"ctl01": [{"name": "x", "ok": True, "detail": ""}]})
    written = json.loads((tmp_path / "runs" / "test-r2-20261203T000000Z.json").read_text())
    assert written["steps"][0]["seconds"] == 12.35 and written["outcome"] == "running"
    assert (tmp_path / "runs" / "test-r2-20261203T000000Z.html").is_file()
    assert run.outage_problem() is None
    run.probe.seen["nova"].update(windows=[{"start": "a", "end": None, "seconds": 6.0}], down_seconds=6.0, longest=6.0)
    assert run.outage_problem() == "the nova API was down 6 s, longer than max_api_outage 5 s"
    installed["cmp01"]["nova-compute"] = "2:26.2.2-1"
    states = [{"id": "nova-pkg", "comment": "E: Version not found"}]
    closed = deploy_record.close(run.data["run"], "halted",
                                 {"stage": "compute", "node": "cmp01", "reason": "r", "states": states}, call)
    assert closed is run and run.probe.stopped and deploy_record.get(run.data["run"]) is None
    assert run.data["versions"]["cmp01"] == {"before": {"nova-compute": "2:26.2.1-1"}, "after": {"nova-compute": "2:26.2.2-1"}}
    summary = run.summary()
    assert (summary["action"], summary["outcome"], summary["halted"]["node"]) == ("deploy", "halted", "cmp01")
    assert "states" not in summary["halted"] and run.data["halted"]["states"] == states  # in the record only
    assert summary["outages"]["nova"] == {"down_seconds": 6.0, "longest": 6.0, "windows": 1}
    assert summary["report"].endswith(".html")


@pytest.mark.parametrize("ret, says", [
    ({"retcode": 1, "stderr": "Failed to discover available identity versions", "stdout": ""}, "is keystone up?"),
    ({"retcode": 0, "stdout": "[]"}, "cannot use the catalog on ctl01: the catalog lists no public endpoint"),
    (None, "no answer"),
])
def test_a_catalog_that_cannot_be_read_starts_nothing(tmp_path, ret, says):
    call, _ = call_with(ret, lambda node: {})
    with pytest.raises(ReleaseTrainError, match="the run did not start") as err:
        deploy_record.begin(run_conf(tmp_path), call, make_probe=FakeProbe)
    assert says in str(err.value)
    assert not (tmp_path / "runs").exists() and deploy_record.get("test-r2-20261203T000000Z") is None


def test_a_bootstrap_run_has_no_probe_and_every_run_has_an_id_per_start():
    conf = settings.resolve({})
    members = {"controller": ["ctl01"], "network": [], "compute": ["cmp01"]}
    boot = deploy_plan.build_plan(conf, members, "r1", "test", "bootstrap", date="D1", runs_dir="/runs")
    assert boot["run"]["probe"] is None and boot["run"]["id"] == "test-r1-D1"
    up = deploy_plan.build_plan(conf, members, "r2", "test", "upgrade", date="D2", runs_dir="/runs", previous="r1")
    assert up["run"]["probe"]["node"] == "ctl01" and up["run"]["probe"]["services"] == conf["probe"]["services"]
    assert up["run"]["previous"] == "r1" and "nova-compute" in up["run"]["packages"]
    down = deploy_plan.build_plan(conf, members, "r1", "test", "downgrade", date="D3")
    assert [step["stage"] for step in down["steps"]] == [step["stage"] for step in up["steps"]]
    assert deploy_plan.build_plan({**conf, "probe": None}, members, "r2", "test", "upgrade")["run"]["probe"] is None


@pytest.mark.parametrize("override, line", [
    ({"on_failure": "retry"}, "deploy:on_failure must be one of halt, rollback, not 'retry'"),
    ({"on_failure": None}, "deploy:on_failure must be one of halt, rollback, not None"),
    ({"max_api_outage": -1}, "deploy:max_api_outage must be a number of seconds, 0 or more, not -1"),
    ({"max_api_outage": "10"}, "deploy:max_api_outage must be a number of seconds, 0 or more, not '10'"),
    ({"max_api_outage": True}, "deploy:max_api_outage must be a number of seconds, 0 or more, not True"),
    ({"max_api_outage": {"nova": float("nan")}}, "deploy:max_api_outage:nova must be a number of seconds"),
    ({"probe": {"interval": 0}}, "deploy:probe:interval must be a number of seconds, not 0"),
    ({"probe": "yes"}, "deploy:probe must be a mapping"),
    ({"probe": {"services": "nova"}}, "deploy:probe:services must be a list of service names"),
])
def test_bad_run_settings_are_one_line_naming_the_key(override, line):
    with pytest.raises(ReleaseTrainError) as err:
        settings.resolve(override)
    assert str(err.value).startswith(line) and "\n" not in str(err.value)


def test_good_run_settings_pass():
    assert settings.resolve({"max_api_outage": {"nova": 30, "keystone": 0}, "on_failure": "rollback"})["on_failure"] == "rollback"
    assert settings.resolve({"probe": None})["probe"] is None
    assert settings.resolve({"max_api_outage": 12.5})["max_api_outage"] == 12.5


def test_rollback_is_refused_after_a_major_a_bootstrap_and_a_downgrade_and_allowed_after_an_upgrade():
    assert "restoring the pre-check's backup" in deploy_rollback.refusal("major")
    assert deploy_rollback.refusal("bootstrap") and deploy_rollback.refusal("downgrade")
    assert deploy_rollback.refusal("upgrade") is None


PKG_COMMENT = ("Problem encountered installing package(s). Additional info follows:\n\nerrors:\n"
               "    - Running scope as unit: run-r0.scope\n      E: Version '2:31.0.0-6+deb13u99' for 'nova-compute' was not found")


def test_a_failing_state_sls_halts_with_each_failed_states_id_and_comment():
    def call(targets, fun, args, kwargs):
        return {"cmp01": {"ret": {"pkg_|-a_|-a_|-installed": {"__id__": "nova-pkg", "result": False, "comment": PKG_COMMENT,
                                                               "__run_num__": 0, "changes": {}},
                                  "file_|-b_|-b_|-managed": {"__id__": "nova-conf", "result": False, "__run_num__": 1,
                                                              "comment": "One or more requisite failed: nova-pkg", "changes": {}},
                                  "cmd_|-c_|-c_|-run": {"__id__": "ok", "result": True, "comment": "", "__run_num__": 2,
                                                         "changes": {}}},
                          "retcode": 2},
                "cmp02": {"ret": {"x": {"__id__": "other", "result": False, "comment": "no", "__run_num__": 0}}, "retcode": 2}}

    step = {"stage": "compute", "targets": ["cmp01", "cmp02"], "sls": ["openstack.nova.compute"], "saltenv": "test",
            "pillar": {}}
    with pytest.raises(deploy_run.StepFailed) as failed:
        deploy_run.apply_states(step, call, test=False)
    halted = failed.value.halted()
    assert (halted["stage"], halted["node"]) == ("compute", "cmp01")
    assert halted["states"] == [{"id": "nova-pkg", "comment": PKG_COMMENT},
                                {"id": "nova-conf", "comment": "One or more requisite failed: nova-pkg"}]
    assert halted["reason"].startswith("nova-pkg: Problem encountered") and halted["reason"].endswith("(also failed: cmp02)")
    assert "states" not in deploy_run.StepFailed("gate", "ctl01", "keystone down").halted()


def test_an_outline_names_where_it_halted_each_failed_state_cut_and_every_step():
    data = {"halted": {"stage": "compute", "node": "cmp02", "reason": "long",
                       "states": [{"id": "nova-pkg", "comment": "\n" + "x" * 500 + "\nsecond line"},
                                  {"id": "nova-conf", "comment": "One or more requisite failed"}]},
            "steps": [{"id": "01-precheck", "targets": [], "seconds": 8.61, "result": True},
                      {"id": "02-compute-canary", "targets": ["cmp01"], "seconds": 45.0, "result": True},
                      {"id": "03-compute-batch1of1", "targets": ["cmp02"], "seconds": 12, "result": False},
                      {"id": "04-odd", "targets": None, "seconds": "?", "result": None}]}
    lines = deploy_record.outline(data, limit=40)
    assert lines[0] == "halted at stage compute on cmp02:"
    assert lines[1] == "  nova-pkg: " + "x" * 39 + "\u2026"
    assert lines[2] == "  nova-conf: One or more requisite failed"
    assert lines[3:] == ["steps:", "  ok      01-precheck (region) 8.6 s", "  ok      02-compute-canary (cmp01) 45.0 s",
                         "  FAILED  03-compute-batch1of1 (cmp02) 12.0 s", "  unknown 04-odd (region) ? s"]
    # a halt without Salt states (a gate, a command) shows its reason's first line
    assert deploy_record.outline({"halted": {"stage": "s", "node": "n", "reason": "gate: down\nmore"}})[:2] == [
        "halted at stage s on n:", "  gate: down"]
    assert deploy_record.outline({"steps": []}) == ["steps:"]
    # a record edited by hand or cut short: what is not a mapping is left out
    assert deploy_record.outline({"halted": {"stage": "s", "node": "n", "states": ["x", None]},
                                  "steps": "text"}) == ["halted at stage s on n:", "steps:"]


def test_a_history_entry_leads_to_its_record_when_the_record_is_there(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"run": "r"}))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[]")
    assert deploy_record.load({"report": str(tmp_path / "r.html")}) == {"run": "r"}
    for entry in ({"report": str(tmp_path / "bad.html")}, {"report": str(tmp_path / "list.html")},
                  {"report": str(tmp_path / "gone.html")}, {}, None):
        assert deploy_record.load(entry) is None
