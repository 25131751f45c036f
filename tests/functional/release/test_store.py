"""The packaging and store logic against real git repos, without Salt daemons."""

import os
import tarfile

import pytest
import yaml

from releasetrain import config as rt_config
from releasetrain.release import compare
from releasetrain.release import packaging
from releasetrain.errors import ReleaseTrainError, StoreError
from releasetrain.release.store import Store, sha256_file
from tests.support.gitrepos import commit, snapshot, write_manifest


@pytest.fixture
def config(rt_paths):
    return rt_config.load({"releasetrain": {"store": str(rt_paths["store"]), "cache": str(rt_paths["cache"])}})


def test_config_defaults_and_validation():
    config = rt_config.load({})
    assert (config.store, config.cache, config.environments) == (
        "/srv/releasetrain", "/var/cache/releasetrain", ("test", "staging", "production"))
    with pytest.raises(ReleaseTrainError, match="must be a list of environment names"):
        rt_config.load({"releasetrain": {"environments": "test"}})
    with pytest.raises(ReleaseTrainError, match="twice"):
        rt_config.load({"releasetrain": {"environments": ["test", "test"]}})


def test_package_exports_trees_without_git_and_writes_release_yml(config, manifest_path, formula_repos):
    events = []
    result = packaging.package(config, manifest_path, by="tester", emit=lambda tag, data: events.append(tag))
    assert result["release"] == "2026.11.0"
    assert sha256_file(result["tarball"]) == result["sha256"]
    with open(result["tarball"] + ".sha256") as handle:
        assert handle.read() == f"{result['sha256']}  2026.11.0.tar.gz\n"
    with tarfile.open(result["tarball"]) as archive:
        names = archive.getnames()
        link = archive.getmember("states/openstack/files/current.conf")
        script = archive.getmember("states/openstack/files/keystone-manage.sh")
    assert "states/openstack/keystone.sls" in names and "pillar/top.sls" in names
    assert not any(".git" in name.split("/") for name in names)
    assert "states/openstack/README.md" not in names and "README.md" not in names  # subdir only
    assert link.issym() and link.linkname == "keystone.conf"
    assert script.mode == 0o755
    shown = Store(config).show("2026.11.0")
    assert shown["sha256"] == result["sha256"]
    formula = next(repo for repo in shown["repos"] if repo["name"] == "openstack-formula")
    assert formula["subject"] == "Pin keystone to the security update"
    assert formula["date"].startswith("2023-11-14T22:15:00")
    assert events == ["package/start", "package/repo", "package/repo", "package/done"]


def test_same_manifest_gives_identical_bytes_in_two_empty_stores(tmp_path, manifest_path):
    digests = []
    for name in ("one", "two"):
        config = rt_config.load({"releasetrain": {"store": str(tmp_path / name / "s"), "cache": str(tmp_path / name / "c")}})
        digests.append(packaging.package(config, manifest_path)["sha256"])
    assert digests[0] == digests[1]
    with open(tmp_path / "one/s/releases/2026.11.0.tar.gz", "rb") as a, open(tmp_path / "two/s/releases/2026.11.0.tar.gz", "rb") as b:
        assert a.read() == b.read()


def test_release_name_is_derived_from_content_when_absent(config, formula_repos, rt_paths):
    repos = [{"name": "f", "url": formula_repos["formula"], "sha": formula_repos["shas"]["formula"][0], "path": "f"}]
    first = packaging.package(config, write_manifest(rt_paths["work"] / "a.yml", repos))
    again = packaging.package(config, write_manifest(rt_paths["work"] / "b.yml", repos))
    assert first["release"].startswith("kit-") and first["release"] == again["release"]
    assert again["created"] is False
    repos[0]["sha"] = formula_repos["shas"]["formula"][1]
    moved = packaging.package(config, write_manifest(rt_paths["work"] / "c.yml", repos))
    assert moved["release"] != first["release"]


def test_same_name_with_other_content_is_refused(config, manifest_path, formula_repos, rt_paths):
    packaging.package(config, manifest_path)
    before = snapshot(rt_paths["store"])
    repos = [{"name": "f", "url": formula_repos["formula"], "sha": formula_repos["shas"]["formula"][0], "path": "f"}]
    with pytest.raises(StoreError, match="already exists with different content"):
        packaging.package(config, write_manifest(rt_paths["work"] / "other.yml", repos, release="2026.11.0"))
    assert snapshot(rt_paths["store"]) == before


def test_fetch_happens_only_when_the_sha_is_missing(config, manifest_path, formula_repos, rt_paths):
    first = []
    packaging.package(config, manifest_path, emit=lambda tag, data: first.append(data.get("fetched")))
    assert first[1:3] == [True, True]
    new_sha = commit(formula_repos["formula"], {"openstack/new.sls": "x: 1\n"}, "Add new.sls", timestamp=1_700_000_200)
    repos = [{"name": "openstack-formula", "url": f"file://{formula_repos['formula']}", "sha": new_sha,
              "path": "states/openstack", "subdir": "openstack"},
             {"name": "site-pillar", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][-1], "path": "pillar"}]
    second = []
    packaging.package(config, write_manifest(rt_paths["work"] / "next.yml", repos, release="2026.11.1"),
                      emit=lambda tag, data: second.append((data.get("repo"), data.get("fetched"))))
    assert ("openstack-formula", True) in second and ("site-pillar", False) in second


def test_unmerged_patchset_ref_is_fetched(config, formula_repos, rt_paths):
    import git
    repo = git.Repo(formula_repos["formula"])
    base = repo.head.commit.hexsha
    patchset = commit(formula_repos["formula"], {"openstack/patch.sls": "p: 1\n"}, "Patchset 3", timestamp=1_700_000_300)
    repo.git.update_ref("refs/changes/45/12345/3", patchset)
    repo.git.reset("--hard", base)  # the patchset is reachable only from its Gerrit ref
    repo.git.reflog("expire", "--expire=now", "--all")
    repos = [{"name": "f", "url": formula_repos["formula"], "sha": patchset, "path": "f",
              "ref": "refs/changes/45/12345/3"}]
    result = packaging.package(config, write_manifest(rt_paths["work"] / "m.yml", repos, release="candidate"))
    with tarfile.open(result["tarball"]) as archive:
        assert "f/openstack/patch.sls" in archive.getnames()


@pytest.mark.parametrize("problem", ["sha absent", "unreachable url", "symlink out", "submodule", "subdir missing"])
def test_repo_level_problems_name_the_repo_and_leave_the_store_unchanged(config, formula_repos, rt_paths, problem):
    packaging.package(config, write_manifest(rt_paths["work"] / "ok.yml", [
        {"name": "f", "url": formula_repos["formula"], "sha": formula_repos["shas"]["formula"][0], "path": "f"}], release="ok"))
    before = snapshot(rt_paths["store"])
    pin = {"name": "broken", "url": formula_repos["formula"], "sha": formula_repos["shas"]["formula"][-1], "path": "b"}
    if problem == "sha absent":
        pin["sha"] = "1" * 40
        expected = f"sha {'1' * 40} is not in"
    elif problem == "unreachable url":
        pin["url"] = str(rt_paths["work"] / "no-such-repo")
        expected = "cannot fetch"
    elif problem == "symlink out":
        pin["sha"] = commit(formula_repos["formula"], {"evil": ("symlink", "../../../etc/passwd")}, "evil", 1_700_000_400)
        expected = "symlink b/evil -> ../../../etc/passwd points outside the kit"
    elif problem == "submodule":
        import git
        repo = git.Repo(formula_repos["formula"])
        repo.git.update_index("--add", "--cacheinfo", f"160000,{formula_repos['shas']['pillar'][0]},vendor/lib")
        repo.git.commit("-m", "add submodule")
        pin["sha"] = repo.head.commit.hexsha
        expected = "holds a submodule at vendor/lib"
    else:
        pin["subdir"] = "nope"
        expected = "subdir 'nope' is not a folder"
    with pytest.raises(ReleaseTrainError) as error:
        packaging.package(config, write_manifest(rt_paths["work"] / "bad.yml", [pin], release="bad"))
    assert "repo 'broken'" in str(error.value) and expected in str(error.value)
    assert "\n" not in str(error.value)
    assert snapshot(rt_paths["store"]) == before


def test_with_several_broken_repos_the_first_in_the_manifest_is_reported(config, formula_repos, rt_paths):
    """Repos are fetched and exported in parallel; the error is the one a repo-by-repo run meets first."""
    good = {"name": "good", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][-1], "path": "a"}
    late_fetch = {"name": "absent", "url": formula_repos["formula"], "sha": "1" * 40, "path": "b"}
    early_archive = {"name": "no-subdir", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][-1],
                     "path": "z", "subdir": "nope"}
    events = []
    with pytest.raises(ReleaseTrainError) as error:
        packaging.package(config, write_manifest(rt_paths["work"] / "two.yml", [good, early_archive, late_fetch],
                                                 release="two"), emit=lambda tag, data: events.append((tag, data.get("repo"))))
    assert "repo 'no-subdir': subdir 'nope' is not a folder" in str(error.value)
    assert events[1:] == [("package/repo", "good"), ("package/failed", None)]
    with pytest.raises(ReleaseTrainError, match="repo 'absent': sha 1111"):
        packaging.package(config, write_manifest(rt_paths["work"] / "three.yml", [good, late_fetch, early_archive],
                                                 release="three"))


def test_repo_events_come_in_manifest_order_with_their_file_counts(config, formula_repos, rt_paths):
    repos = [{"name": f"r{index}", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][-1],
              "path": path} for index, path in enumerate(["z", "a-b", "a/b", "a.b"])]
    events = []
    packaging.package(config, write_manifest(rt_paths["work"] / "order.yml", repos, release="order"),
                      emit=lambda tag, data: events.append((tag, data.get("repo"), data.get("files"))))
    assert events[1:-1] == [("package/repo", f"r{index}", 2) for index in range(4)]
    assert events[-1][0] == "package/done"


def test_a_fetch_keeps_one_pack_and_many_packs_are_repacked(config, formula_repos, rt_paths, monkeypatch):
    from releasetrain.release import mirror as mirror_mod
    monkeypatch.setattr(mirror_mod, "MAX_PACKS", 2)
    url = formula_repos["pillar"]
    mirror = mirror_mod.Mirror(config.cache, url)
    packs = lambda: sorted(name for name in os.listdir(os.path.join(mirror.path, "objects", "pack")) if name.endswith(".pack"))
    loose = lambda: [name for name in os.listdir(os.path.join(mirror.path, "objects")) if len(name) == 2]
    shas = [formula_repos["shas"]["pillar"][-1]]
    for index, expected_packs in enumerate([1, 2, 1]):  # a third pack is one too many: all go into one
        repos = [{"name": "p", "url": url, "sha": shas[-1], "path": "p"}]
        result = packaging.package(config, write_manifest(rt_paths["work"] / f"p{index}.yml", repos, release=f"p{index}"))
        assert result["created"] and loose() == []  # the fetch kept what it got as a pack
        assert len(packs()) == expected_packs
        shas.append(commit(url, {f"more{index}.sls": "x: 1\n"}, f"More {index}", timestamp=1_700_000_500 + index))
    assert mirror.has_commit(shas[-2]) and not mirror.has_commit("1" * 40)


@pytest.fixture
def two_releases(config, formula_repos, rt_paths):
    def manifest(release, index):
        return write_manifest(rt_paths["work"] / f"{release}.yml", [
            {"name": "f", "url": formula_repos["formula"], "sha": formula_repos["shas"]["formula"][index], "path": "f"}],
            release=release)
    for release, index in (("r1", 0), ("r2", 1)):
        packaging.package(config, manifest(release, index))
    return Store(config)


def read_tree(config, env, path="f/openstack/keystone.sls"):
    with open(os.path.join(config.env_tree(env), path)) as handle:
        return handle.read()


def test_publish_switches_the_environment_tree(config, two_releases):
    store = two_releases
    store.publish("r1", "test", by="a")
    assert "version" not in read_tree(config, "test")
    result = store.publish("r2", "test", by="b")
    assert result["previous"] == "r1"
    assert "deb12u6" in read_tree(config, "test")
    assert os.path.islink(config.env_tree("test"))
    status = store.status()["environments"]["test"]
    assert (status["release"], status["by"], status["verified"]) == ("r2", "b", False)


def test_promote_needs_verification_in_the_previous_environment(config, two_releases):
    store = two_releases
    with pytest.raises(StoreError, match="not verified in 'test'"):
        store.promote("r1", "staging", by="a")
    with pytest.raises(StoreError, match="not what 'test' serves"):
        store.verify("r1", "test", by="a")
    store.publish("r1", "test", by="a")
    store.verify("r1", "test", by="ci")
    store.promote("r1", "staging", by="a")
    with pytest.raises(StoreError, match="not verified in 'staging'"):
        store.promote("r1", "production", by="a")
    forced = store.promote("r2", "production", by="boss", force=True)
    assert forced["release"] == "r2"
    last = store.history()[-1]
    assert (last["action"], last["force"], last["by"]) == ("promote", True, "boss")
    assert store.status()["environments"]["test"]["verified"] is True


def test_rollback_walks_back_through_what_was_published(config, two_releases):
    store = two_releases
    with pytest.raises(StoreError, match="no earlier release"):
        store.rollback("test", by="a")
    store.publish("r1", "test", by="a")
    store.publish("r2", "test", by="a")
    assert store.rollback("test", by="a")["release"] == "r1"
    assert store.current("test") == "r1"
    with pytest.raises(StoreError, match="no earlier release"):
        store.rollback("test", by="a")


def test_history_survives_a_new_store_object_and_unknown_env_is_refused(config, two_releases):
    two_releases.publish("r1", "test", by="a")
    fresh = Store(config)
    assert [r["action"] for r in fresh.history()] == ["package", "package", "publish"]
    with pytest.raises(ReleaseTrainError, match="unknown environment 'qa'"):
        fresh.publish("r1", "qa", by="a")


def test_a_damaged_tarball_is_not_published(config, two_releases):
    with open(two_releases.tarball_path("r1"), "r+b") as handle:
        handle.seek(100)
        handle.write(b"XXXX")
    with pytest.raises(StoreError, match="damaged"):
        two_releases.publish("r1", "test", by="a")
    assert two_releases.current("test") is None


def test_packaging_a_damaged_release_again_repairs_it(config, two_releases, rt_paths, formula_repos):
    """publish says "package it again" for a damaged kit: that must work."""
    store = two_releases
    recorded = store.show("r1")["sha256"]
    with open(store.tarball_path("r1"), "r+b") as handle:
        handle.seek(100)
        handle.write(b"XXXX")
    again = packaging.package(config, rt_paths["work"] / "r1.yml")
    assert (again["created"], again["sha256"]) == (False, recorded)
    assert sha256_file(store.tarball_path("r1")) == recorded
    assert store.history()[-1] | {"action": "repair", "release": "r1"} == store.history()[-1]
    store.publish("r1", "test", by="a")
    assert store.current("test") == "r1"


def test_a_release_kept_with_other_kit_bytes_stands_when_packaged_again(config, two_releases, rt_paths):
    """A kit written by an older releasetrain (same repos, other compression) is the one that was
    tested: packaging its manifest again keeps it and reports its sha256."""
    store = two_releases
    tarball = store.tarball_path("r1")
    with tarfile.open(tarball) as archive:
        archive.extractall(rt_paths["work"] / "old", filter="fully_trusted")
    with tarfile.open(tarball, "w:gz", compresslevel=1) as archive:  # other bytes, same tree
        archive.add(rt_paths["work"] / "old", arcname=".")
    older = sha256_file(tarball)
    metadata = store.show("r1") | {"sha256": older}
    with open(store.release_yml_path("r1"), "w") as handle:
        yaml.safe_dump(metadata, handle, sort_keys=False)
    before = snapshot(rt_paths["store"])
    again = packaging.package(config, rt_paths["work"] / "r1.yml")
    assert (again["created"], again["sha256"]) == (False, older)
    assert snapshot(rt_paths["store"]) == before
    with open(tarball, "r+b") as handle:  # damaged too: it cannot be rebuilt to its recorded bytes
        handle.seek(100)
        handle.write(b"XXXX")
    before = snapshot(rt_paths["store"])
    with pytest.raises(StoreError, match="is damaged .* other bytes; package the manifest under a new name"):
        packaging.package(config, rt_paths["work"] / "r1.yml")
    assert snapshot(rt_paths["store"]) == before


def test_old_trees_are_collected_but_the_current_one_is_kept(config, two_releases, rt_paths):
    store = two_releases
    for release in ("r1", "r2", "r1", "r2"):
        store.publish(release, "test", by="a")
    trees = sorted(os.listdir(rt_paths["store"] / "trees" / "test"))
    assert trees == ["r1", "r2"]


def test_diff_lists_commits_between_two_releases(config, two_releases, formula_repos):
    result = compare.diff(config, "r1", "r2")
    change = result["repos"]["f"]
    assert change["change"] == "moved"
    assert [c["subject"] for c in change["commits"]] == ["Pin keystone to the security update"]
    assert change["reverted"] == []
    assert compare.diff(config, "r1", "r1")["repos"]["f"]["change"] == "unchanged"


def test_salt_fileserver_serves_the_new_content_after_a_switch(config, formula_repos, rt_paths, tmp_path):
    """Two kits with the same fixed mtime must not share Salt's cached file hashes."""
    import salt.config
    import salt.fileserver

    repo = formula_repos["formula"]
    shas = formula_repos["shas"]["formula"]
    pillar = formula_repos["shas"]["pillar"][0]
    store = Store(config)
    for release, sha in (("same-a", shas[0]), ("same-b", shas[1])):
        # the pillar repo's commit is the newest, so both kits carry the same mtime
        newest = commit(formula_repos["pillar"], {"stamp": release}, release, timestamp=1_800_000_000) if release == "same-a" else None
        pillar = newest or pillar
        packaging.package(config, write_manifest(rt_paths["work"] / f"{release}.yml", [
            {"name": "f", "url": repo, "sha": sha, "path": "states/f"},
            {"name": "p", "url": formula_repos["pillar"], "sha": pillar, "path": "pillar"}], release=release))
    assert store.show("same-a")["repos"][1]["sha"] == store.show("same-b")["repos"][1]["sha"]
    opts = salt.config.master_config(None)
    opts.update({"cachedir": str(tmp_path / "cache"), "fileserver_backend": ["roots"],
                 "file_roots": {"test": [os.path.join(config.env_tree("test"), "states")]}})
    load = {"path": "f/openstack/keystone.sls", "saltenv": "test"}
    hashes = []
    for release in ("same-a", "same-b"):
        store.publish(release, "test", by="t")
        fileserver = salt.fileserver.Fileserver(opts)
        fileserver.update()
        hashes.append(fileserver.file_hash(load)["hsum"])
    import hashlib
    with open(os.path.join(config.env_tree("test"), "states/f/openstack/keystone.sls"), "rb") as handle:
        assert hashes[1] == hashlib.sha256(handle.read()).hexdigest()
    assert hashes[0] != hashes[1]


def test_empty_placeholder_folders_are_replaced_but_real_content_is_not(config, two_releases):
    os.makedirs(os.path.join(config.env_tree("test"), "states"))
    two_releases.publish("r1", "test", by="a")
    assert os.path.islink(config.env_tree("test"))
    os.makedirs(os.path.join(config.env_tree("staging"), "states"))
    with open(os.path.join(config.env_tree("staging"), "states", "hand-made.sls"), "w") as handle:
        handle.write("x: 1\n")
    with pytest.raises(StoreError, match="is a folder with files"):
        two_releases.publish("r1", "staging", by="a")
    assert os.path.isfile(os.path.join(config.env_tree("staging"), "states", "hand-made.sls"))


def test_only_leftovers_of_dead_writers_are_collected(config, two_releases, rt_paths):
    from releasetrain.release.store import _owner_is_gone
    live = os.path.basename(two_releases.tmp_tarball_path("x"))
    dead = subprocess_pid_that_has_exited()
    assert not _owner_is_gone(live)
    assert _owner_is_gone(f".tmp-x-t1-{dead}.tar.gz") and _owner_is_gone(f".tmp-r1-{dead}")
    open(os.path.join(rt_paths["store"], "releases", f".tmp-x-t1-{dead}.tar.gz"), "w").close()
    open(two_releases.tmp_tarball_path("busy"), "w").close()
    two_releases.publish("r1", "test", by="a")
    left = sorted(n for n in os.listdir(rt_paths["store"] / "releases") if n.startswith(".tmp-"))
    assert left == [os.path.basename(two_releases.tmp_tarball_path("busy"))]


def subprocess_pid_that_has_exited():
    import subprocess
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_volatile_environments_take_candidates_but_are_outside_the_chain(config, two_releases):
    store = two_releases
    store.publish("r2", "volatile", by="gerrit")
    assert store.current("volatile") == "r2"
    with pytest.raises(ReleaseTrainError, match="'volatile' is a volatile environment"):
        store.promote("r2", "volatile", by="a")
    with pytest.raises(StoreError, match="not verified in 'test'"):
        store.promote("r2", "staging", by="a")  # a volatile pass is no verification in the chain
    assert set(store.status()["environments"]) == {"test", "staging", "production", "volatile"}
    with pytest.raises(ReleaseTrainError, match="name an environment twice"):
        rt_config.load({"releasetrain": {"environments": ["test"], "volatile_environments": ["test"]}})


def _halted_run(tmp_path, mode="upgrade", release="r2"):
    from releasetrain.deploy import record as deploy_record

    conf = {"id": f"test-{release}-X", "release": release, "env": "test", "mode": mode, "directory": str(tmp_path / "runs"),
            "on_failure": "rollback", "nodes": [], "packages": [], "settings": {"on_failure": "rollback", "batch": 1}}
    run = deploy_record.Run(conf)
    run.close("halted", {"stage": "compute", "node": "cmp02", "reason": "boom",
                         "states": [{"id": "nova-pkg", "comment": "boom"}]})
    return run


def test_an_automatic_rollback_without_an_earlier_release_halts_and_changes_nothing(two_releases, tmp_path):
    from releasetrain.deploy import rollback as deploy_rollback

    store = two_releases
    store.publish("r2", "test", by="a")
    before = store.history()
    planned = []
    result = deploy_rollback.rollback(_halted_run(tmp_path), store, lambda *a: planned.append(a), None, by="t")
    assert result["outcome"] == "refused" and "'test' has no earlier release to roll back to" in result["reason"]
    assert planned == [] and store.current("test") == "r2" and store.history() == before
    major = deploy_rollback.rollback(_halted_run(tmp_path, mode="major"), store, None, None, by="t")
    assert major["outcome"] == "refused" and "left halted for a person" in major["reason"]
    assert store.current("test") == "r2" and store.history() == before


def test_an_automatic_rollback_switches_back_and_applies_the_release_before_in_mode_downgrade(two_releases, tmp_path):
    from releasetrain.deploy import rollback as deploy_rollback

    store = two_releases
    store.publish("r1", "test", by="a")
    store.publish("r2", "test", by="a")
    planned, ran = [], []

    def plan_for(release, env, mode, settings):
        planned.append((release, env, mode, settings))
        step = {"id": "01-smoke", "stage": "smoke", "targets": [], "sls": [], "saltenv": env, "pillar": {},
                "before": [], "after": [], "gate": [], "commands": [{"node": "ctl01", "cmd": "true"}]}
        return {"steps": [step], "run": {"id": f"{env}-{release}-Y", "release": release, "env": env, "mode": mode,
                                        "directory": str(tmp_path / "runs"), "nodes": [], "packages": []}}

    def call(targets, fun, args, kwargs):
        ran.append((targets, fun, args, kwargs.get("cmd")))
        return {targets[0]: {"ret": {"retcode": 0, "stdout": "ok"}, "retcode": 0}}

    result = deploy_rollback.rollback(_halted_run(tmp_path), store, plan_for, call, by="t")
    assert (result["outcome"], result["to"], result["run"]) == ("deployed", "r1", "test-r1-Y")
    assert planned == [("r1", "test", "downgrade", {"on_failure": "halt", "batch": 1})]  # a failed rollback halts
    assert ran == [(["ctl01"], "cmd.run_all", [], "true")]
    assert store.current("test") == "r1"
    (record,) = store.deployments(release="r1")
    assert (record["mode"], record["outcome"], record["rollback_of"]["release"]) == ("downgrade", "deployed", "r2")
    # the halt as the history keeps it for the halted run: without its failed states
    assert record["rollback_of"]["halted"] == {"stage": "compute", "node": "cmp02", "reason": "boom"}
