"""``deploy.step`` through a real salt-master and minion (``salt-run state.orchestrate``) fires
``releasetrain/deploy/step/start`` and ``.../done`` on the master bus, as ``./run demo`` shows them."""

import json
import re
import time

import pytest
from saltfactories.utils import random_string

from releasetrain.lab import demo

pytestmark = [pytest.mark.slow]

#: What orchestrate/deploy/region.sls does with deploy.plan's steps, here with the pillar's.
STEP_SLS = """\
{% for step in pillar['steps'] %}
{{ step.id }}:
  deploy.step:
    - step: {{ step | json }}
    - failhard: True
{% endfor %}
"""


@pytest.fixture(scope="module")
def region(salt_factories, tmp_path_factory):
    """A started master (file_roots base: an SLS running the pillar's ``steps``) and one minion."""
    root = tmp_path_factory.mktemp("step-events")
    (root / "roots").mkdir()
    (root / "roots" / "steps.sls").write_text(STEP_SLS)
    master = salt_factories.salt_master_daemon(
        random_string("step-events-master-"),
        overrides={
            "releasetrain": {"store": str(root / "store"), "cache": str(root / "cache"),
                             "environments": ["test", "staging", "production"]},
            "file_roots": {"base": [str(root / "roots")]},
            "log_level_logfile": "info",
        },
    )
    minion = master.salt_minion_daemon(random_string("cmp-"))
    with master.started(), minion.started():
        yield {"master": master, "minion": minion.id, "run": master.salt_run_cli(timeout=120)}


def a_step(step_id, targets, commands, release="r1", env="test"):
    """A ``deploy.plan`` step that runs only shell commands on its nodes; ``02-compute-x``: stage compute."""
    stage = step_id.split("-")[1]
    return {
        "id": step_id, "stage": stage, "targets": targets, "sls": [], "saltenv": env,
        "pillar": {"deploy": {"release": release, "env": env, "stage": stage}},
        "before": [], "commands": [{"node": node, "cmd": cmd} for node, cmd in commands], "after": [],
        "gate": [], "render": [], "sync": [], "timeout": 30, "gate_wait": 0, "gate_interval": 1, "openrc": "",
    }


def orchestrate(region, *steps, test=False):
    args = ["state.orchestrate", "steps", f"pillar={json.dumps({'steps': list(steps)})}"]
    return region["run"].run(*args, *(["test=True"] if test else []))


def step_events(event_listener, region, start, count):
    """The deploy step events fired on the master since ``start``, in order, once ``count`` arrived."""
    pattern = [(region["master"].id, "releasetrain/deploy/step/*")]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = event_listener.get_events(pattern, after_time=start)
        if len(events) >= count:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # nothing more should come
    return [(e.tag, e.data) for e in sorted(event_listener.get_events(pattern, after_time=start), key=lambda e: e.stamp)]


def without_salt_keys(data):
    return {key: value for key, value in data.items() if not key.startswith("_")}


def test_each_step_fires_start_then_done_with_its_result(region, event_listener):
    minion = region["minion"]
    start = time.time()
    result = orchestrate(region, a_step("01-infra", [minion], [(minion, "sleep 1; echo hi")]),
                         a_step("02-keystone", [minion], [(minion, "true")]))
    assert result.returncode == 0, result.stdout
    events = step_events(event_listener, region, start, 4)
    assert [(tag.rsplit("/", 1)[1], data["id"]) for tag, data in events] == [
        ("start", "01-infra"), ("done", "01-infra"), ("start", "02-keystone"), ("done", "02-keystone")]
    about = {"id": "01-infra", "name": "01-infra", "stage": "infra", "targets": [minion], "release": "r1", "env": "test"}
    assert without_salt_keys(events[0][1]) == about
    done = without_salt_keys(events[1][1])
    assert done == {**about, "result": True, "seconds": done["seconds"], "comment": done["comment"]}
    assert 1 <= done["seconds"] < 30
    assert done["comment"].startswith(f"stage infra on {minion}: applied commands only; ")
    assert "\n" not in done["comment"]


def test_a_halted_step_says_so_in_its_done_event_and_the_next_step_never_starts(region, event_listener):
    minion = region["minion"]
    start = time.time()
    result = orchestrate(region, a_step("05-compute-batch1of2", [minion], [(minion, "echo broken >&2; exit 3")]),
                         a_step("06-compute-batch2of2", [minion], [(minion, "true")]))
    assert result.returncode != 0
    events = step_events(event_listener, region, start, 2)
    assert [(tag.rsplit("/", 1)[1], data["id"]) for tag, data in events] == [
        ("start", "05-compute-batch1of2"), ("done", "05-compute-batch1of2")]
    done = events[1][1]
    assert done["result"] is False and done["stage"] == "compute"
    assert done["comment"] == (f"HALTED: stage compute failed on {minion}: "
                               "'echo broken >&2; exit 3' exited 3: broken")


def test_a_command_that_starts_like_a_keyword_argument_runs_as_a_shell_command(region):
    """Salt reads a positional ``i=0; ...`` as the keyword argument ``i``: the step must not pass it so."""
    minion = region["minion"]
    result = orchestrate(region, a_step("01-precheck", [minion], [(minion, "i=0; while [ $i -lt 2 ]; do i=$((i+1)); done; "
                                                                           "echo rounds=$i; [ $i -eq 2 ]")]))
    assert result.returncode == 0, result.stdout
    (state,) = result.data["data"][next(iter(result.data["data"]))].values()
    assert state["result"] is True and state["changes"]["commands"][0]["stdout"] == "rounds=2", state


def test_a_dry_run_fires_them_too(region, event_listener):
    minion = region["minion"]
    start = time.time()
    result = orchestrate(region, a_step("01-infra", [minion], [(minion, "true")]), test=True)
    assert result.returncode == 0, result.stdout
    events = step_events(event_listener, region, start, 2)
    assert [tag.rsplit("/", 1)[1] for tag, _ in events] == ["start", "done"]
    assert events[1][1]["result"] is True  # commands only: nothing it would change
    assert "would apply commands only" in events[1][1]["comment"]


def test_the_demo_shows_a_line_as_each_step_starts_and_ends(region):
    minion = region["minion"]
    lines = []
    with demo.StepEvents(region["master"].config_dir, write=lines.append) as events:
        assert events.connected, events.problem
        result = orchestrate(region, a_step("01-infra", [minion], [(minion, "sleep 2")]),
                             a_step("02-keystone", [minion], [(minion, "exit 1")]))
    assert result.returncode != 0
    clock = r"  \d\d:\d\d:\d\d "
    assert len(lines) == 4, lines
    assert re.fullmatch(clock + r"01-infra \.\.\.\n", lines[0])
    assert re.fullmatch(clock + r"01-infra ended after \d+ s: ok\n", lines[1])
    assert re.fullmatch(clock + r"02-keystone \.\.\.\n", lines[2])
    assert re.fullmatch(clock + r"02-keystone ended after \d+ s: FAILED: HALTED: stage keystone failed on "
                        + re.escape(minion) + r": 'exit 1' exited 1:\n", lines[3]), lines[3]
