"""Damaged store files give one line naming the file, or are skipped where that is what an operator needs."""

import os
import subprocess
import sys

import pytest

from releasetrain.errors import StoreError
from releasetrain.release.kit import METADATA_NAME
from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)
from tests.support.gitrepos import snapshot

SALT_RUN = os.path.join(os.path.dirname(sys.executable), "salt-run")

DAMAGED_RELEASE_YML = {
    "a list": (b"- r1\n- r2\n", "is not a mapping"),
    "a string": (b"just text\n", "is not a mapping"),
    "empty": (b"", "is not a mapping"),
    "not UTF-8": (b"release: r1\nrepos: []\npackaged_by: \xff\xfe\n", "is not UTF-8 text (byte 35)"),
    "not YAML": (b"release: [r1\n", "is not valid YAML (line 2)"),
    "repos not a list": (b"release: r1\nrepos: {f: 1}\n", "has no list of repos"),
    "repo without a path": (b"release: r1\nrepos:\n- {name: f, url: u, sha: s}\n", "gives repos[0] no 'path'"),
}


def salt_run(master, *args):
    return subprocess.run([SALT_RUN, "-c", master.config_dir, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("damage", DAMAGED_RELEASE_YML)
def test_a_damaged_release_yml_is_one_line_naming_it(two_releases, rt_paths, damage):  # noqa: F811
    content, problem = DAMAGED_RELEASE_YML[damage]
    path = two_releases.release_yml_path("r1")
    with open(path, "wb") as handle:
        handle.write(content)
    before = snapshot(rt_paths["store"])
    for call in (lambda: two_releases.show("r1"), lambda: two_releases.publish("r1", "test", by="a"),
                 lambda: two_releases.promote("r1", "production", by="a", force=True)):
        with pytest.raises(StoreError) as error:
            call()
        assert str(error.value) == (f"release 'r1': {path} {problem}; "
                                    "restore it, or package the release under a new name")
    assert snapshot(rt_paths["store"]) == before
    assert two_releases.current("test") is None


def test_salt_run_list_with_a_release_yml_that_is_not_a_mapping_exits_1_with_one_line(master, two_releases):  # noqa: F811
    with open(two_releases.release_yml_path("r1"), "w", encoding="utf-8") as handle:
        handle.write("- not\n- a mapping\n")
    result = salt_run(master, "release.list")
    assert result.returncode == 1, result.stdout
    assert result.stdout.strip().splitlines() == [
        f"ERROR: release 'r1': {two_releases.release_yml_path('r1')} is not a mapping; "
        "restore it, or package the release under a new name"]
    assert "Traceback" not in result.stderr


HISTORY_LINES_WITHOUT_A_RECORD = [
    b"42\n", b'"publish r9"\n', b"[1, 2]\n", b"null\n", b"true\n",
    b'{"action": "publish", "env": "test", "rel\xffease": "r1"}\n',  # not UTF-8
    b'{"action": "publish", "env": "test", "release": 5}\n',  # no release id
    b'{"action": "publish", "env": "test"}\n',
    b'{"action": "rollback", "env": "test", "release": ["r1"]}\n',
    b'{"action": "pub',  # cut short by a crash
]


def test_history_lines_that_hold_no_record_are_skipped(two_releases):  # noqa: F811
    """A non-object line names no action, release or environment: skipped like a cut line, so an
    environment can still be published and rolled back (refusing would block production's rollback
    until someone edits the history by hand)."""
    store = two_releases
    store.publish("r1", "test", by="a")
    with open(store.history_path, "ab") as handle:
        handle.writelines(HISTORY_LINES_WITHOUT_A_RECORD[:-1])
    store.publish("r2", "test", by="a")
    with open(store.history_path, "ab") as handle:
        handle.write(HISTORY_LINES_WITHOUT_A_RECORD[-1])
    assert all(isinstance(record, dict) for record in store.history())
    assert len(store.history()) == 2 + 2 + 3  # packages, publishes, and the objects that name no release
    status = store.status()
    assert (status["environments"]["test"]["release"], status["environments"]["test"]["action"]) == ("r2", "publish")
    assert store.rollback("test", by="a")["release"] == "r1"
    assert store.current("test") == "r1"
    assert store.history()[-1] | {"action": "rollback", "release": "r1"} == store.history()[-1]  # not glued to the cut line


def test_the_served_release_is_read_from_the_tree_name_when_its_metadata_is_damaged(config, two_releases):  # noqa: F811
    two_releases.publish("r2", "test", by="a")
    metadata = os.path.join(config.env_tree("test"), METADATA_NAME)
    for damage in (b"release: \xff\n", b"- a list\n", b"release: 2026.10\n", b"release: ../r1\n"):
        with open(metadata, "wb") as handle:
            handle.write(damage)
        assert two_releases.current("test") == "r2"
        assert two_releases.status()["environments"]["test"]["release"] == "r2"
