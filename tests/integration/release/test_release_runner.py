"""``salt-run release.*`` end to end: a real salt-master configuration, real git repos."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from releasetrain import config as rt_config
from releasetrain.release import packaging
from releasetrain.gerrit import pipeline

from tests.support.gitrepos import commit, snapshot, write_manifest


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.data


def test_package_publish_status_through_salt_run(salt_run, manifest_path, rt_paths):
    packaged = ok(salt_run.run("release.package", f"manifest={manifest_path}"))
    assert packaged["release"] == "2026.11.0"
    assert os.path.isfile(packaged["tarball"])
    assert [r["release"] for r in ok(salt_run.run("release.list"))] == ["2026.11.0"]
    assert ok(salt_run.run("release.show", "2026.11.0"))["sha256"] == packaged["sha256"]
    ok(salt_run.run("release.publish", "2026.11.0", "env=test"))
    status = ok(salt_run.run("release.status"))
    assert status["environments"]["test"]["release"] == "2026.11.0"
    assert status["environments"]["staging"]["release"] is None
    assert status["environments"]["test"]["by"].startswith(("root@", os.environ.get("USER", "root")))
    tree = rt_paths["store"] / "envs" / "test"
    assert (tree / "states" / "openstack" / "init.sls").is_file()


def test_promotion_chain_and_rollback_through_salt_run(salt_run, manifest_path):
    ok(salt_run.run("release.package", f"manifest={manifest_path}"))
    refused = salt_run.run("release.promote", "2026.11.0", "to=staging")
    assert refused.returncode != 0
    assert "not verified in 'test'" in refused.data["error"]
    ok(salt_run.run("release.publish", "2026.11.0", "env=test"))
    ok(salt_run.run("release.verify", "2026.11.0", "env=test"))
    ok(salt_run.run("release.promote", "2026.11.0", "to=staging"))
    assert ok(salt_run.run("release.status"))["environments"]["staging"]["release"] == "2026.11.0"
    failed = salt_run.run("release.rollback", "env=staging")
    assert failed.returncode != 0 and "no earlier release" in failed.data["error"]


def test_switching_an_env_by_hand_waits_for_its_running_deployment(make_master, manifest_path):
    """The pipeline holds an environment's lock while it deploys there; publish, promote and
    rollback by hand wait for it (lock_timeout) and then give up with one line, changing nothing."""
    master = make_master(releasetrain={"lock_timeout": 1})
    salt_run = master.salt_run_cli()
    ok(salt_run.run("release.package", f"manifest={manifest_path}"))
    with pipeline.env_lock(rt_config.load(master.config), "test"):
        refused = salt_run.run("release.publish", "2026.11.0", "env=test")
        rollback = salt_run.run("release.rollback", "env=test")
        elsewhere = salt_run.run("release.publish", "2026.11.0", "env=staging")
    for result in (refused, rollback):
        assert result.returncode != 0
        assert result.data["error"].startswith("pipeline env-test is locked by pid "), result.data
    ok(elsewhere)
    assert ok(salt_run.run("release.status"))["environments"]["test"]["release"] is None
    ok(salt_run.run("release.publish", "2026.11.0", "env=test"))


def test_the_default_outputter_prints_one_line_and_exits_non_zero(master):
    salt_run_bin = os.path.join(os.path.dirname(sys.executable), "salt-run")
    result = subprocess.run([salt_run_bin, "-c", master.config_dir, "release.publish", "nope", "env=test"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.strip() == "ERROR: unknown release 'nope'; the store has no releases yet"


BAD_REPO_CASES = {
    "malformed yaml": "malformed YAML",
    "missing field": "repo 'site-pillar': missing required field 'path'",
    "unknown field": "repo 'site-pillar': unknown field(s): branch",
    "sha not hex": "repo 'site-pillar': sha 'not-a-sha' is not 40 lowercase hex digits",
    "sha absent": "repo 'site-pillar': sha 1111111111111111111111111111111111111111 is not in",
    "unreachable url": "repo 'site-pillar': cannot fetch",
    "duplicate names": "repo 'openstack-formula': duplicate name",
    "duplicate paths": "repo 'site-pillar': path 'states/openstack' overlaps",
    "path escapes": "repo 'site-pillar': path '../outside' escapes the kit",
    "subdir escapes": "repo 'site-pillar': subdir '../..' escapes the kit",
    "symlink outside": "repo 'site-pillar': symlink pillar/escape -> ../../etc/passwd points outside the kit",
}


@pytest.mark.parametrize("case", sorted(BAD_REPO_CASES))
def test_bad_input_exits_non_zero_with_one_line_and_leaves_the_store_unchanged(
    salt_run, manifest_path, formula_repos, rt_paths, case
):
    packaging.package(rt_config.load(salt_run.config), manifest_path)  # a store with something in it
    with open(manifest_path) as handle:
        data = yaml.safe_load(handle)
    data["release"] = "bad"
    formula, pillar = data["repos"]
    if case == "missing field":
        del pillar["path"]
    elif case == "unknown field":
        pillar["branch"] = "main"
    elif case == "sha not hex":
        pillar["sha"] = "not-a-sha"
    elif case == "sha absent":
        pillar["sha"] = "1" * 40
    elif case == "unreachable url":
        pillar["url"] = "file:///nonexistent/releasetrain/repo.git"
    elif case == "duplicate names":
        pillar["name"] = formula["name"]
    elif case == "duplicate paths":
        pillar["path"] = formula["path"]
    elif case == "path escapes":
        pillar["path"] = "../outside"
    elif case == "subdir escapes":
        pillar["subdir"] = "../.."
    elif case == "symlink outside":
        pillar["sha"] = commit(formula_repos["pillar"], {"escape": ("symlink", "../../etc/passwd")}, "bad link")
    bad = rt_paths["work"] / "bad.yml"
    if case == "malformed yaml":
        bad.write_text("repos:\n  - name: [unclosed\n")
    else:
        bad.write_text(yaml.safe_dump(data))
    before = snapshot(rt_paths["store"])
    result = salt_run.run("release.package", f"manifest={bad}")
    assert result.returncode != 0
    message = result.data["error"]
    assert BAD_REPO_CASES[case] in message
    assert "\n" not in message and message.startswith("bad.yml: ")
    assert snapshot(rt_paths["store"]) == before


def test_gitshelf_yaml_is_imported(salt_run, formula_repos, rt_paths):
    shelf = rt_paths["work"] / "gitshelf.yml"
    shelf.write_text(yaml.safe_dump({"books": [
        {"book": "states", "git": formula_repos["formula"], "branch": formula_repos["shas"]["formula"][-1]},
        {"book": "pillar", "git": formula_repos["pillar"], "branch": formula_repos["shas"]["pillar"][-1]},
    ]}))
    packaged = ok(salt_run.run("release.package", f"manifest={shelf}", "release=from-gitshelf"))
    assert {r["name"] for r in packaged["repos"]} == {"states", "pillar"}
    shelf.write_text(yaml.safe_dump({"books": [{"book": "states", "git": formula_repos["formula"], "branch": "master"}]}))
    refused = salt_run.run("release.package", f"manifest={shelf}")
    assert refused.returncode != 0
    assert "a release must be pinned, not follow a branch" in refused.data["error"]


def test_reproducible_across_two_empty_stores_and_caches(make_master, manifest_path, tmp_path):
    digests = []
    for name in ("a", "b"):
        cli = make_master(releasetrain={"store": str(tmp_path / name / "store"),
                                        "cache": str(tmp_path / name / "cache")}).salt_run_cli()
        digests.append(ok(cli.run("release.package", f"manifest={manifest_path}"))["sha256"])
    assert digests[0] == digests[1]
    assert (tmp_path / "a/store/releases/2026.11.0.tar.gz").read_bytes() == \
        (tmp_path / "b/store/releases/2026.11.0.tar.gz").read_bytes()


def test_diff_through_salt_run(salt_run, formula_repos, rt_paths):
    shas = formula_repos["shas"]["formula"]
    for release, sha in (("r1", shas[0]), ("r2", shas[1])):
        ok(salt_run.run("release.package", "manifest=" + write_manifest(rt_paths["work"] / f"{release}.yml", [
            {"name": "f", "url": formula_repos["formula"], "sha": sha, "path": "f"}], release=release)))
    diff = ok(salt_run.run("release.diff", "r1", "r2"))
    assert [c["sha"] for c in diff["repos"]["f"]["commits"]] == [shas[1]]


def test_package_fires_progress_events(master, manifest_path, event_listener):
    with master.started():
        start = time.time()
        ok(master.salt_run_cli().run("release.package", f"manifest={manifest_path}"))
        matched = event_listener.wait_for_events(
            [(master.id, "releasetrain/release/package/start"),
             (master.id, "releasetrain/release/package/repo"),
             (master.id, "releasetrain/release/package/done")],
            after_time=start, timeout=30)
    assert matched.found_all_events, matched.missed
    done = [event for event in matched if event.tag.endswith("/done")][0]
    assert done.data["release"] == "2026.11.0"


def test_publish_clears_the_masters_cached_file_list(make_master, manifest_path, rt_paths):
    """A release that adds a file is listed by the master's fileserver right after publish."""
    from releasetrain.cli import master_config
    roots = master_config(store=str(rt_paths["store"]), cache=str(rt_paths["cache"]))
    master = make_master(file_roots=roots["file_roots"], fileserver_list_cache_time=3600)
    cli = master.salt_run_cli()
    ok(cli.run("release.package", f"manifest={manifest_path}"))
    ok(cli.run("release.publish", "2026.11.0", "env=test"))
    listed = ok(cli.run("fileserver.file_list", "saltenv=test"))
    assert "openstack/keystone.sls" in listed
    assert "openstack/added.sls" not in listed
    with open(manifest_path) as handle:
        data = yaml.safe_load(handle)
    formula = data["repos"][0]
    formula["sha"] = commit(formula["url"][len("file://"):], {"openstack/added.sls": "added: {}\n"}, "add", 1_700_001_000)
    data["release"] = "2026.11.1"
    (rt_paths["work"] / "next.yml").write_text(yaml.safe_dump(data))
    ok(cli.run("release.package", f"manifest={rt_paths['work'] / 'next.yml'}"))
    ok(cli.run("release.publish", "2026.11.1", "env=test"))
    assert "openstack/added.sls" in ok(cli.run("fileserver.file_list", "saltenv=test"))
