"""releasetrain.lab.demo: what it packages (the checkout's HEAD), and its output: one line per
deploy.region step event, one line for a failure."""

import time

import git
import pytest
import yaml

from releasetrain.lab import demo
from releasetrain.release import manifest


WHEN = 1_767_225_600.0  # any instant; the lines show it in local time


def test_each_deploy_step_event_is_one_line_with_its_local_time():
    clock = time.strftime("%H:%M:%S", time.localtime(WHEN))
    about = {"id": "02-infra", "name": "02-infra", "stage": "infra", "targets": ["ctl01"], "release": "r1", "env": "test"}
    assert demo.step_line("releasetrain/deploy/step/start", about, WHEN) == f"  {clock} 02-infra ...\n"
    done = {**about, "result": True, "seconds": 30.49, "comment": "stage infra on ctl01: applied openstack.infra"}
    assert demo.step_line("releasetrain/deploy/step/done", done, WHEN) == f"  {clock} 02-infra ended after 30 s: ok\n"


def test_a_failed_step_shows_why_and_a_dry_run_what_it_would_do():
    halted = {"id": "08-compute-batch1of2", "result": False, "seconds": 612.5,
              "comment": "HALTED: stage compute failed on cmp02: health gate: service:nova-compute: not running"}
    assert demo.step_line("releasetrain/deploy/step/done", halted, WHEN).endswith(
        " 08-compute-batch1of2 ended after 612 s: FAILED: HALTED: stage compute failed on cmp02: "
        "health gate: service:nova-compute: not running\n")
    dry = {"id": "03-keystone", "result": None, "seconds": 2.0, "comment": "stage keystone on ctl01: would apply ..."}
    assert demo.step_line("releasetrain/deploy/step/done", dry, WHEN).endswith(
        " 03-keystone ended after 2 s: would change something (dry run)\n")
    assert demo.step_line("releasetrain/deploy/step/done", {"name": "x", "result": False}, WHEN).endswith(
        " x ended after 0 s: FAILED: no reason given\n")


def test_other_events_are_not_shown():
    assert demo.step_line("releasetrain/release/package/done", {"id": "x"}, WHEN) is None
    assert demo.step_line("releasetrain/deploy/step/other", {"id": "x"}, WHEN) is None


def test_salt_runs_log_lines_are_dropped_and_its_output_kept():
    assert demo.drop_log("[INFO    ] Executing state deploy.step for [02-infra]\n") is None
    assert demo.drop_log("[WARNING ] unclosed RunnerClient <...>; call ``destroy()``\n") is None
    assert demo.drop_log("[DEBUG   ] Reading configuration from /x/master\n") is None
    assert demo.drop_log("unclosed MasterMinion <...>; call ``destroy()``\n") is None
    assert demo.drop_log("          ID: 08-compute-batch1of2\n") == "          ID: 08-compute-batch1of2\n"
    assert demo.drop_log("[ERROR   ] the master is down\n") == "[ERROR   ] the master is down\n"


def test_without_a_master_the_step_lines_are_off_in_one_line(tmp_path):
    (tmp_path / "sock").mkdir()
    (tmp_path / "master").write_text(f"root_dir: {tmp_path}\ncachedir: {tmp_path / 'cache'}\nsock_dir: {tmp_path / 'sock'}\n")
    said = []
    with demo.StepEvents(str(tmp_path), write=said.append, timeout=20) as events:
        pass
    assert not events.connected
    assert said == ["(no step lines: cannot listen to the master's event bus: "
                    f"no {tmp_path / 'sock' / 'master_event_pub.ipc'}: is the salt-master running?)\n"]


def test_error_line_names_the_halt_or_the_runner_error():
    halted = "      Comment: step failed\n     Name: HALTED: stage compute failed on cmp02: ...\nSummary\n"
    assert demo._error_line(halted) == "HALTED: stage compute failed on cmp02: ..."
    assert demo._error_line("ERROR: unknown release 'x'\n") == "unknown release 'x'"
    assert demo._error_line("error: '/m.yml: cannot read it'\nretcode: 1\n") == "/m.yml: cannot read it"
    assert demo._error_line("", "[ERROR   ] the master is down\n") == "the master is down"
    assert demo._error_line("last words\n") == "last words"


@pytest.fixture
def checkout(tmp_path):
    """A git checkout shaped like this one: states/, pillar/ and examples/manifest.yml pinning it (url ..)."""
    root = tmp_path / "checkout"
    for name, text in (("states/openstack/init.sls", "{}\n"), ("pillar/top.sls", "base: {}\n"), ("README.md", "x\n")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "t").set_value("user", "email", "t@example.org")
    repo.index.add(["states", "pillar", "README.md"])
    old = repo.index.commit("first").hexsha
    (root / "states" / "openstack" / "init.sls").write_text("{'fixed': true}\n")
    repo.index.add(["states"])
    repo.index.commit("the fix the demo must deploy")
    return root, repo, old


def write_example(root, old_sha, release="example-1", other=None):
    repos = [{"name": "formula", "url": "..", "sha": old_sha, "path": "states", "subdir": "states"},
             {"name": "site-pillar", "url": "..", "sha": old_sha, "path": "pillar", "subdir": "pillar"}]
    if other:
        repos.append({"name": "other", "url": other[0], "sha": other[1], "path": "extra"})
    (root / "examples").mkdir(exist_ok=True)
    path = root / "examples" / "manifest.yml"
    path.write_text(yaml.safe_dump({**({"release": release} if release else {}), "repos": repos}))
    return str(path)


def test_the_repos_of_the_checkout_are_pinned_to_head_and_the_release_named_after_it(checkout, tmp_path, capsys):
    root, repo, old = checkout
    other = tmp_path / "other"
    other_repo = git.Repo.init(other)
    other_sha = other_repo.index.commit("elsewhere").hexsha
    example = write_example(root, old, other=(str(other), other_sha))
    out = tmp_path / "pinned.yml"
    assert demo.pin_to_checkout(example, str(out), checkout=str(root)) == str(out)
    head = repo.head.commit.hexsha
    pinned = manifest.load(str(out))
    assert pinned.release == f"example-1-{head[:10]}"
    assert {pin.name: (pin.url, pin.sha) for pin in pinned.repos} == {
        "formula": (str(root), head), "site-pillar": (str(root), head), "other": (str(other), other_sha)}
    assert capsys.readouterr().err == ""  # committed: no warning


def test_without_a_release_name_the_store_derives_it_from_the_content(checkout, tmp_path):
    root, repo, old = checkout
    out = tmp_path / "pinned.yml"
    demo.pin_to_checkout(write_example(root, old, release=None), str(out), checkout=str(root))
    pinned = manifest.load(str(out))
    assert pinned.release == "" and {pin.sha for pin in pinned.repos} == {repo.head.commit.hexsha}


def test_uncommitted_changes_in_the_pinned_folders_are_one_warning_line(checkout, tmp_path, capsys):
    root, repo, old = checkout
    example = write_example(root, old)  # untracked, but outside the pinned folders
    (root / "README.md").write_text("changed, outside states/ and pillar/\n")
    demo.pin_to_checkout(example, str(tmp_path / "pinned.yml"), checkout=str(root))
    assert capsys.readouterr().err == ""
    (root / "states" / "openstack" / "init.sls").write_text("{'not': 'committed'}\n")
    (root / "pillar" / "new.sls").write_text("{}\n")  # untracked: not in the kit either
    demo.pin_to_checkout(example, str(tmp_path / "pinned.yml"), checkout=str(root))
    assert capsys.readouterr().err == (f"WARNING: uncommitted changes in pillar/, states/ are not in the kit: "
                                       f"it packages HEAD {repo.head.commit.hexsha[:10]}\n")


def test_a_manifest_without_a_repo_of_the_checkout_is_packaged_as_it_is(checkout, tmp_path):
    root, _, old = checkout
    example = write_example(root, old)
    assert demo.pin_to_checkout(example, str(tmp_path / "pinned.yml"), checkout=str(tmp_path)) == example
    assert not (tmp_path / "pinned.yml").exists()


def test_a_checkout_that_is_not_a_git_repo_fails_in_one_line(tmp_path):
    plain = tmp_path / "plain"
    (plain / "examples").mkdir(parents=True)
    example = write_example(plain, "a" * 40)
    with pytest.raises(demo.DemoError, match=r"is not a git checkout with a commit, so the demo cannot pin it"):
        demo.pin_to_checkout(example, str(tmp_path / "pinned.yml"), checkout=str(plain))
