"""releasetrain.lab.demo: what it packages (the checkout's HEAD), and its output: one line per
deploy.region step, one line for a failure."""

import git
import pytest
import yaml

from releasetrain.lab import demo
from releasetrain.release import manifest


def test_step_progress_shows_each_step_and_drops_the_rest_of_the_log():
    progress = demo.StepProgress()
    assert progress("[INFO    ] Executing state deploy.step for [02-infra]\n").endswith(" 02-infra ...\n")
    assert progress("[INFO    ] Loading fresh modules for state activity\n") is None
    assert progress("[WARNING ] unclosed RunnerClient <...>; call ``destroy()``\n") is None
    assert progress("unclosed MasterMinion <...>; call ``destroy()``\n") is None
    done = "[INFO    ] Completed state [02-infra] at time 08:49:22.476 (duration_in_ms=30024.5)\n"
    assert progress(done).endswith(" 02-infra ended after 30 s\n")
    # a state that is not a deploy step (none started under that id) is not shown
    assert progress("[INFO    ] Completed state [x] at time 08:49:22.476 (duration_in_ms=1.0)\n") is None
    assert progress("          ID: 08-compute-batch1of2\n") == "          ID: 08-compute-batch1of2\n"


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
