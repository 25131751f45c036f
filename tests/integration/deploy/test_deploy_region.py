"""``salt-run state.orchestrate deploy.region`` against a real master and six minions.

ctl01, ctl02 (controller), net01 (network), cmp01-cmp03 (compute).  The tests
run in order on one region (module fixtures): dry run, bootstrap of r1, upgrade
to r2 halted by a fault on cmp02, resume, a failed health gate on cmp02, and a
final dry run with nothing left to change.
"""

import json
import pathlib
import threading
import time

import pytest
import salt.config

from conftest import NODES, REACTOR_TAG, STAGES

pytestmark = [pytest.mark.slow]


def orchestrate(region, settings, release, test=False, **pillar):
    data = {"release": release, "env": "test", "deploy": settings, **pillar}
    args = ["state.orchestrate", "deploy.region", f"pillar={json.dumps(data)}"]
    if test:
        args.append("test=True")
    return region["run"].run(*args)


def trace_lines(region_paths, release=None):
    """(node, what, release, extra, time) per line of the trace log, in order written."""
    path = region_paths["trace"] / "trace.log"
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    rows = [(node, what, rel, extra, float(stamp)) for node, what, rel, extra, stamp in lines]
    return [row for row in rows if release is None or row[2] == release]


def step_states(result):
    """Orchestrate state returns of the run, keyed by step id, in run order."""
    data = result.data
    if isinstance(data, dict) and "data" in data:
        data = data["data"]
    (states,) = data.values()
    ordered = sorted(states.values(), key=lambda state: state.get("__run_num__", 0))
    return {state["__id__"]: state for state in ordered}


def status(region):
    result = region["run"].run("release.status")
    assert result.returncode == 0, result.stderr
    return result.data["environments"]["test"]


def test_an_unpublished_release_halts_before_any_node_is_touched(region, region_paths):
    plan = region["run"].run("deploy.plan", "release=nope", "env=test")
    assert plan.returncode == 1
    assert plan.data["error"] == (
        "release 'nope' is not published to 'test' (it serves None); run: salt-run release.publish nope env=test"
    )
    result = orchestrate(region, {}, "nope")
    assert result.returncode != 0
    assert "HALTED before any node was touched: release 'nope' is not published to 'test'" in result.stdout
    assert trace_lines(region_paths) == []


def test_dry_run_changes_nothing(region, publish, deploy_settings, region_paths):
    publish("r1", "first release")
    result = orchestrate(region, deploy_settings, "r1", test=True)
    assert result.returncode == 0, result.stdout
    assert trace_lines(region_paths) == []
    assert not (region_paths["trace"] / "done").exists()
    steps = step_states(result)
    compute = [state for step, state in steps.items() if "-compute-" in step]
    assert compute and all(state["result"] is None for state in compute)
    would = compute[0]["changes"]["nodes"]  # a bootstrap applies every compute at once
    assert set(would) == {"cmp01", "cmp02", "cmp03"} and "trace-done-compute" in would["cmp01"]
    assert steps["deploy-region-record-verified"]["result"] is None
    assert status(region)["verified"] is False


def test_bootstrap_runs_stages_in_order_and_records_verified(region, deploy_settings, region_paths):
    result = orchestrate(region, {**deploy_settings, "bootstrap_batch": "50%"}, "r1")
    assert result.returncode == 0, result.stdout
    rows = trace_lines(region_paths, "r1")
    order = []
    for _, what, *_ in rows:
        if what not in order:
            order.append(what)
    assert order == [*STAGES, "smoke"]
    # every stage finished on all its nodes before the next one started
    for earlier, later in zip(order, order[1:]):
        assert max(r[4] for r in rows if r[1] == earlier) < min(r[4] for r in rows if r[1] == later)
    for stage in STAGES[:5]:
        assert sorted(r[0] for r in rows if r[1] == stage) == ["ctl01", "ctl02"]
    assert [r[0] for r in rows if r[1] == "neutron_network"] == ["net01"]
    compute = [r for r in rows if r[1] == "compute"]
    first, second = {"cmp01", "cmp02"}, {"cmp03"}  # batches of 50% (a bootstrap has no canary)
    assert {r[0] for r in compute} == first | second
    assert max(r[4] for r in compute if r[0] in first) < min(r[4] for r in compute if r[0] in second)
    assert not [r for r in rows if r[1].startswith("nova-")], "bootstrap must not disable computes"
    for minion in region["minions"]:  # nodes without releasetrain installed get the gate's module
        extmods = salt.config.minion_config(minion.config_file)["extension_modules"]
        assert (pathlib.Path(extmods) / "modules" / "openstack_health.py").is_file()
    assert status(region) == {**status(region), "release": "r1", "verified": True}


def test_a_node_whose_sls_does_not_render_halts_the_upgrade_before_any_change(
    region, publish, deploy_settings, region_paths
):
    publish("r2", "second release")
    broken = region_paths["trace"] / "broken-cmp02"
    broken.write_text("")
    try:
        result = orchestrate(region, deploy_settings, "r2")
    finally:
        broken.unlink()
    assert result.returncode != 0
    assert "HALTED: stage precheck failed on cmp02: compute SLS do not render" in result.stdout
    assert "broken pillar for cmp02" in result.stdout
    assert trace_lines(region_paths, "r2") == []
    assert not list(region_paths["backup"].iterdir())


def test_upgrade_halts_on_the_failing_compute(region, deploy_settings, region_paths):
    fault = region_paths["trace"] / "fault-cmp02-compute"
    fault.write_text("")
    result = orchestrate(region, deploy_settings, "r2")  # no mode: r1 is verified -> upgrade
    assert result.returncode != 0
    assert "HALTED: stage compute failed on cmp02" in result.stdout
    assert "injected fault for cmp02 in compute" in result.stdout

    rows = trace_lines(region_paths, "r2")
    applied = [(r[0], r[1], r[3]) for r in rows if not r[1].startswith("nova-")]
    assert applied == [
        ("ctl01", "controller", "db_sync=True"),
        ("ctl02", "controller", "db_sync=False"),
        ("net01", "neutron_network", "db_sync=False"),
        ("cmp01", "compute", "db_sync=False"),
    ]
    nova = [(r[0], r[1]) for r in rows if r[1].startswith("nova-")]
    assert nova == [
        ("cmp01", "nova-disable"),
        ("cmp01", "nova-enable"),
        ("cmp02", "nova-disable"),  # left disabled: its upgrade failed
    ]
    disable, apply, enable = (r[4] for r in rows if r[0] == "cmp01")
    assert disable < apply < enable
    assert not [r for r in rows if r[0] == "cmp03"], "no node after the failure may be touched"
    backups = list(region_paths["backup"].glob("mysql-test-r2-*.sql.gz"))
    assert len(backups) == 1 and backups[0].read_text() == "dump of r2\n"
    assert status(region)["verified"] is False


def test_rerun_resumes_after_the_fault_is_removed(region, deploy_settings, region_paths):
    (region_paths["trace"] / "fault-cmp02-compute").unlink()
    before = len(trace_lines(region_paths, "r2"))
    result = orchestrate(region, deploy_settings, "r2", mode="upgrade")
    assert result.returncode == 0, result.stdout
    new = trace_lines(region_paths, "r2")[before:]
    assert [(r[0], r[1]) for r in new if r[1] in STAGES + ("controller",)] == [
        ("cmp02", "compute"),
        ("cmp03", "compute"),
        ("ctl01", "cell_discovery"),
    ]
    steps = step_states(result)
    for step in ("02-controller-ctl01", "03-controller-ctl02", "04-neutron_network-batch1of1"):
        assert steps[step]["result"] is True
        assert not steps[step]["changes"].get("nodes"), f"{step} was converged already"
    assert status(region)["release"] == "r2" and status(region)["verified"] is True


def test_failed_health_gate_halts_before_later_batches(region, deploy_settings, region_paths, health_endpoint):
    health_endpoint.sick.add("cmp02")
    try:
        before = len(trace_lines(region_paths))
        result = orchestrate(region, deploy_settings, "r2")
    finally:
        health_endpoint.sick.clear()
    assert result.returncode != 0
    assert "HALTED: stage compute failed on cmp02: health gate: endpoint:trace" in result.stdout
    assert "HTTP 503 (still failing after 4 s)" in result.stdout
    touched = [(r[0], r[1]) for r in trace_lines(region_paths)[before:]]
    assert ("cmp02", "nova-disable") in touched
    assert ("cmp02", "nova-enable") not in touched
    assert not [node for node, _ in touched if node == "cmp03"]


def test_dry_run_on_a_converged_region_shows_no_changes(region, deploy_settings, region_paths):
    before = trace_lines(region_paths)
    result = orchestrate(region, deploy_settings, "r2", test=True)
    assert result.returncode == 0, result.stdout
    steps = step_states(result)
    for step, state in steps.items():
        if step != "deploy-region-record-verified":
            assert state["result"] is True, (step, state["comment"])
            assert not state["changes"].get("nodes"), step
    assert trace_lines(region_paths) == before


def test_the_reactor_starts_deploy_region_as_the_gerrit_pipeline_does(region, publish, deploy_settings, region_paths):
    """Under the reactor, state.orchestrate runs with the user "Reactor", which has no key of its own:
    the plan's test.ping must still authenticate (it did not: every merge's deployment failed)."""
    publish("r3", "third release")
    before = len(trace_lines(region_paths))
    pillar = {"release": "r3", "env": "test", "deploy": deploy_settings}
    sent = region["run"].run("event.send", REACTOR_TAG, f"data={json.dumps({'pillar': pillar})}")
    assert sent.returncode == 0, sent.stderr
    deadline = time.monotonic() + 240
    while not (status(region)["release"] == "r3" and status(region)["verified"]) and time.monotonic() < deadline:
        time.sleep(2)
    log = pathlib.Path(region["master"].config["log_file"]).read_text().splitlines()
    assert status(region)["verified"], "\n".join(line for line in log if "deploy.region" in line or "ERROR" in line)[-3000:]
    touched = {row[0] for row in trace_lines(region_paths)[before:] if row[2] == "r3"}
    assert touched == set(NODES) | {"region"}, touched


def _sick_while(health_endpoint, name, trace, after, seconds):
    """A thread that makes ``GET /<name>`` answer 503 for ``seconds`` once ``after`` (node, stage)
    shows in the trace log: an API outage in the middle of a run."""
    def outage():
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            lines = trace.read_text().splitlines() if trace.exists() else []
            if any(line.split()[:2] == list(after) for line in lines[outage.skip:]):
                health_endpoint.sick.add(name)
                time.sleep(seconds)
                health_endpoint.sick.discard(name)
                return
            time.sleep(0.1)

    trace_path = pathlib.Path(trace)
    outage.skip = len(trace_path.read_text().splitlines()) if trace_path.exists() else 0
    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    return thread


def _record(region_paths, summary):
    return json.loads(pathlib.Path(summary["report"]).with_suffix(".json").read_text())


def test_an_upgrade_records_each_apis_outage_in_its_run_history_and_report(
    region, publish, deploy_settings, region_paths, health_endpoint
):
    publish("r4", "fourth release")
    outage = _sick_while(health_endpoint, "api-nova", region_paths["trace"] / "trace.log", ("ctl02", "controller"), 3)
    result = orchestrate(region, deploy_settings, "r4")
    outage.join(5)
    assert result.returncode == 0, result.stdout
    steps = step_states(result)
    assert "probing keystone http://127.0.0.1:" in steps["deploy-region-begin"]["comment"]
    summary = status(region)["last_deploy"]
    assert (summary["release"], summary["mode"], summary["outcome"]) == ("r4", "upgrade", "deployed")
    assert set(summary["outages"]) == {"keystone", "nova", "neutron"}  # glance and placement are not in the catalog
    assert summary["outages"]["keystone"]["windows"] == summary["outages"]["neutron"]["windows"] == 0
    assert summary["outages"]["nova"]["windows"] == 1 and 2.0 <= summary["outages"]["nova"]["longest"] <= 6.0
    record = _record(region_paths, summary)
    assert record["outages"]["nova"]["windows"][0]["end"] is not None
    assert [step["id"] for step in record["steps"]] == [s for s in steps if s[:2].isdigit()]
    assert all(step["result"] is True and step["seconds"] >= 0 for step in record["steps"])
    assert record["previous"] == "r3" and record["finished"]
    page = pathlib.Path(summary["report"]).read_text()
    assert "api-nova" in page or "nova" in page
    shown = region["run"].run("release.show", "r4")
    assert shown.returncode == 0 and [run["run"] for run in shown.data["deployments"]] == [summary["run"]]


def test_an_api_down_longer_than_max_api_outage_halts_after_that_step(
    region, publish, deploy_settings, region_paths, health_endpoint
):
    publish("r5", "fifth release")
    trace = region_paths["trace"] / "trace.log"
    outage = _sick_while(health_endpoint, "api-keystone", trace, ("ctl01", "controller"), 3)
    before = len(trace_lines(region_paths))
    result = orchestrate(region, {**deploy_settings, "max_api_outage": {"keystone": 1, "nova": 60}}, "r5")
    outage.join(5)
    assert result.returncode != 0
    assert "failed on the API probe: the keystone API was down" in result.stdout
    assert "longer than max_api_outage 1 s" in result.stdout
    touched = [(r[0], r[1]) for r in trace_lines(region_paths)[before:]]
    assert ("net01", "neutron_network") not in touched and not [n for n, _ in touched if n.startswith("cmp")]
    summary = status(region)["last_deploy"]
    assert (summary["release"], summary["outcome"]) == ("r5", "halted")
    assert summary["halted"]["node"] == "the API probe" and summary["outages"]["keystone"]["longest"] > 1


def test_a_halted_upgrade_with_on_failure_rollback_goes_back_to_the_release_before(
    region, deploy_settings, region_paths
):
    assert status(region)["release"] == "r5"  # r4 served before it, deployed and verified
    fault = region_paths["trace"] / "fault-cmp02-compute-r5"  # r5 breaks cmp02; r4 does not
    fault.write_text("")
    before = len(trace_lines(region_paths))
    try:
        result = orchestrate(region, {**deploy_settings, "on_failure": "rollback"}, "r5")
    finally:
        fault.unlink()
    assert result.returncode != 0
    assert "HALTED: stage compute failed on cmp02" in result.stdout
    assert "rolled back to r4" in result.stdout
    new = trace_lines(region_paths)[before:]
    # r5 reached cmp01 (the canary), failed on cmp02; then r4 went back on every node r5 had touched
    assert ("cmp01", "compute", "r5") in [(r[0], r[1], r[2]) for r in new]
    reapplied = [(r[0], r[1]) for r in new if r[2] == "r4"]
    assert ("ctl01", "controller") in reapplied and ("cmp01", "compute") in reapplied and ("region", "smoke") in reapplied
    served = status(region)  # r4 served, r5 failed with its reason and rolled back
    assert served["release"] == "r4" and served["verified"] is True
    failed = served["last_deploy"]
    assert (failed["release"], failed["outcome"], failed["halted"]["node"]) == ("r5", "rolled back", "cmp02")
    assert "injected fault for cmp02" in failed["halted"]["reason"]
    assert region["run"].run("release.show", "r5").data["deployments"][-1] == failed
    back = region["run"].run("release.show", "r4").data["deployments"][-1]
    assert (back["mode"], back["outcome"], back["run"]) == ("downgrade", "deployed", failed["rollback"]["run"])
    assert back["rollback_of"] == {"release": "r5", "run": failed["run"], "halted": failed["halted"]}
    assert failed["rollback"]["to"] == "r4" and failed["rollback"]["outcome"] == "deployed"


@pytest.mark.parametrize("settings, line", [
    ({"on_failure": "sometimes"}, "deploy:on_failure must be one of halt, rollback, not 'sometimes'"),
    ({"max_api_outage": -1}, "deploy:max_api_outage must be a number of seconds, 0 or more, not -1"),
    ({"max_api_outage": {"nova": "ten"}}, "deploy:max_api_outage:nova must be a number of seconds, 0 or more, not 'ten'"),
    ({"on_failure": "roll\"back: {x}"}, "deploy:on_failure must be one of halt, rollback, not 'roll\"back: {x}'"),
])
def test_bad_run_settings_halt_before_any_node_with_one_line_naming_the_key(
    region, deploy_settings, region_paths, settings, line
):
    before = len(trace_lines(region_paths))
    result = orchestrate(region, {**deploy_settings, **settings}, "r4")
    assert result.returncode != 0
    halted = step_states(result)["deploy-region-plan"]
    assert halted["result"] is False and halted["name"] == f"HALTED before any node was touched: {line}", halted
    assert len(trace_lines(region_paths)) == before


def test_a_catalog_that_cannot_be_read_stops_the_run_before_it_starts(region, deploy_settings, region_paths):
    before = len(trace_lines(region_paths))
    settings = {**deploy_settings, "commands": {**deploy_settings["commands"], "catalog": "echo keystone is down >&2; exit 1"}}
    result = orchestrate(region, settings, "r4")
    assert result.returncode != 0
    assert "HALTED before any node was touched: the API probe cannot read the region's catalog on ctl01" in result.stdout
    assert "keystone is down" in result.stdout
    assert len(trace_lines(region_paths)) == before


def test_the_plan_reads_the_pillar_the_next_states_see_and_unmasked(region, region_paths):
    """deploy.plan's guard asks the minions for pillar openstack:distribution: the pillar of the
    release just published (not the one their last job had), and its value (Salt 3008 masks
    pillar.item's values unless asked not to)."""
    pillar = region_paths["pillar"]
    serving = status(region)["release"]
    (pillar / "top.sls").write_text("test:\n  '*':\n    - release\n")
    (pillar / "release.sls").write_text("openstack:\n  distribution: trixie\n")
    refused = region["run"].run("deploy.plan", f"release={serving}", "env=test", "mode=upgrade")
    assert refused.returncode == 1, refused.stdout
    assert refused.data["error"].startswith(
        "the release runs on trixie but cmp01, cmp02, cmp03, ctl01, ctl02, net01 on bookworm: "
        "mode upgrade does not change distributions; use mode=major"), refused.data
    (pillar / "release.sls").write_text("openstack: {}\n")
    planned = region["run"].run("deploy.plan", f"release={serving}", "env=test", "mode=upgrade")
    assert planned.returncode == 0, planned.stdout
    (pillar / "top.sls").unlink()
