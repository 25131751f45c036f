"""The store's pure parts: release ids, the history it keeps, the kit listing it accepts, the rollback it picks."""

import os
import re
import tarfile

import pytest

from releasetrain import config as rt_config
from releasetrain import journal
from releasetrain.errors import ReleaseTrainError, StoreError
from releasetrain.release import store as store_mod
from releasetrain.release.store import Store, check_release_id


@pytest.fixture
def store(tmp_path):
    return Store(rt_config.load({"releasetrain": {"store": str(tmp_path / "store")}}))


def write_history(store, *records):
    for record in records:
        journal.append(store.history_path, record)


# -- release ids -------------------------------------------------------------------------------

@pytest.mark.parametrize("release", ["2026.11.0", "r1", "kit-0a1b2c", "1.0+build_2", "a" * 100])
def test_a_release_id_passes_as_it_is(release):
    assert check_release_id(release) == release


@pytest.mark.parametrize("release", ["", "../r1", "r1/x", "r1\n", ".hidden", "-r1", "a" * 101, "r 1", "r1;id", "é"])
def test_anything_that_could_name_another_file_is_no_release_id(release):
    with pytest.raises(StoreError, match=r"^not a valid release id: .* \(letters, digits"):
        check_release_id(release)


@pytest.mark.parametrize("release", [2026.1, 2026, None, ["r1"]])
def test_a_release_id_read_as_a_number_says_to_quote_it(release):
    with pytest.raises(StoreError, match=rf"is a {type(release).__name__}, not a string .*quote it"):
        check_release_id(release)


def test_paths_are_only_made_of_release_ids(store):
    assert store.tarball_path("r1").endswith("/releases/r1.tar.gz")
    with pytest.raises(StoreError):
        store.release_yml_path("../history")


# -- history and the rollback choice -----------------------------------------------------------

def test_history_is_read_oldest_first_by_environment_and_limit(store):
    write_history(store, {"action": "package", "release": "r1"}, {"action": "publish", "release": "r1", "env": "test"},
                  {"action": "publish", "release": "r1", "env": "staging"}, {"action": "verify", "release": "r1", "env": "test"})
    assert [r["action"] for r in store.history()] == ["package", "publish", "publish", "verify"]
    assert [r["action"] for r in store.history("test")] == ["publish", "verify"]
    assert [r["env"] for r in store.history(limit=2)] == ["staging", "test"]
    assert all(r["time"] for r in store.history())
    assert store.is_verified("r1", "test") and not store.is_verified("r1", "staging")


def test_the_stack_holds_each_different_release_once_in_a_row(store):
    write_history(store, *({"action": action, "release": release, "env": "test"} for action, release in [
        ("publish", "r1"), ("publish", "r2"), ("publish", "r2"), ("verify", "r2"), ("promote", "r3"), ("recover", "r4")]))
    assert store._stack("test") == ["r1", "r2", "r3", "r4"]


def test_a_rollback_record_pops_the_release_it_left(store):
    write_history(store, *({"action": action, "release": release, "env": "test"} for action, release in [
        ("publish", "r1"), ("publish", "r2"), ("publish", "r3"), ("rollback", "r2"), ("rollback", "r1")]))
    assert store._stack("test") == ["r1"]


def test_records_that_name_no_release_are_no_step_to_go_back_to(store):
    write_history(store, {"action": "publish", "release": "r1", "env": "test"},
                  {"action": "publish", "release": "../etc", "env": "test"},
                  {"action": "publish", "release": 2026.1, "env": "test"},
                  {"action": "publish", "env": "test"},
                  {"action": "publish", "release": "r2", "env": "test"})
    with open(store.history_path, "a", encoding="ascii") as handle:
        handle.write('{"action": "publish", "release": "r9", "env": "te\n')  # a line a crash cut short
    assert store._stack("test") == ["r1", "r2"]


def test_rollback_picks_the_release_before_the_current_one_or_says_there_is_none(store):
    with pytest.raises(StoreError, match=r"^'test' has no earlier release to roll back to \(nothing was published there\)$"):
        store.rollback("test", by="a")
    write_history(store, {"action": "publish", "release": "r1", "env": "test"},
                  {"action": "publish", "release": "r1", "env": "test"})
    with pytest.raises(StoreError, match=r"\(it has served only 'r1'\)$"):
        store.rollback("test", by="a")
    with pytest.raises(ReleaseTrainError, match="^unknown environment 'nowhere'"):
        store.rollback("nowhere", by="a")


# -- the kit listing -----------------------------------------------------------------------------

def member(name, kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_a_listing_of_files_folders_and_links_inside_their_repo_passes():
    store_mod._check_listing("r1", [member("f", tarfile.DIRTYPE), member("f/a.sls"), member("f/b.sls", tarfile.SYMTYPE, "a.sls"),
                                    member("./f/c", tarfile.DIRTYPE)], ["f"])


@pytest.mark.parametrize("members,named,problem", [
    ([member("/etc/passwd")], "/etc/passwd", "an absolute name"),
    ([member("f/../../x")], "f/../../x", "'..' in its name"),
    ([member("f/a"), member("f/./a")], "f/./a", "named twice"),
    ([member("f/a"), member("f/a/b")], "f/a/b", "under 'f/a', which is a file"),
    ([member("f/h", tarfile.LNKTYPE, "f/a")], "f/h", "a hard link, not a file, folder or symlink"),
    ([member("f/dev", tarfile.CHRTYPE)], "f/dev", "a character device"),
    ([member("f/l", tarfile.SYMTYPE)], "f/l", "a symlink to nothing"),
    ([member("f/a\nb")], "f/a\nb", "control characters"),
    ([member(".")], ".", "the kit's own folder, yet not a folder"),
])
def test_a_listing_that_would_write_outside_files_folders_and_links_is_refused(members, named, problem):
    with pytest.raises(StoreError) as refused:
        store_mod._check_listing("r1", members, ["f"])
    assert str(refused.value).startswith(f"release 'r1' is refused: kit member {named!r}: {problem}")
    assert str(refused.value).endswith("; nothing was published")


def test_a_link_out_of_its_repo_path_is_refused_before_anything_is_written():
    with pytest.raises(StoreError, match=r"kit member 'f/up'"):
        store_mod._check_listing("r1", [member("f/up", tarfile.SYMTYPE, "../g")], ["f"])


def test_a_release_yml_without_the_shape_the_store_needs_is_one_line(tmp_path):
    path = tmp_path / "r1.yml"
    for text, problem in [("- a\n", "is not a mapping"), ("repos: x\n", "has no list of repos"),
                          ("repos: [{name: f}]\n", "gives repos[0] no 'url'"), ("a: [\n", "is not valid YAML")]:
        path.write_text(text)
        with pytest.raises(StoreError, match=rf"^release 'r1': .*r1.yml {re.escape(problem)}.*; restore it"):
            store_mod._read_release_yml("r1", str(path))
    path.write_bytes(b"\xff")
    with pytest.raises(StoreError, match="is not UTF-8 text"):
        store_mod._read_release_yml("r1", str(path))


def test_the_env_lock_is_the_pipelines_file_and_nests_in_one_thread(store):
    with store.env_lock("test", timeout=0):
        with store.env_lock("test", timeout=0):
            with open(os.path.join(store.root, "pipeline", "env-test.lock"), encoding="ascii") as handle:
                assert handle.read() == f"pid {os.getpid()}"
