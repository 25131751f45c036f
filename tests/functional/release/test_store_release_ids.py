"""Every release id the store is given is checked before it names a file."""

import os
import subprocess
import sys

import pytest

from releasetrain.release import compare
from releasetrain.errors import StoreError
from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)
from tests.support.gitrepos import snapshot

NOT_IDS = [
    "../releases/r1",  # reaches the releases folder from trees/<env>
    "r1/../r1",
    "/etc/passwd",
    "r1\n",  # RELEASE_RE's $ accepts a trailing newline; fullmatch does not
    "",
    ".hidden",
    "r" * 101,
]
NOT_STRINGS = [2026.1, 7, None, True, ["r1"]]  # salt-run reads 2026.10 as the float 2026.1


def entry_points(store, config):  # noqa: F811
    return {
        "show": lambda rid: store.show(rid),
        "exists": lambda rid: store.exists(rid),
        "publish": lambda rid: store.publish(rid, "test", by="a"),
        "promote": lambda rid: store.promote(rid, "staging", by="a", force=True),
        "verify": lambda rid: store.verify(rid, "test", by="a"),
        "diff from": lambda rid: compare.diff(config, rid, "r1"),
        "diff to": lambda rid: compare.diff(config, "r1", rid),
    }


@pytest.mark.parametrize("release", NOT_IDS + NOT_STRINGS, ids=repr)
def test_a_release_id_that_is_not_one_is_refused_everywhere(config, two_releases, rt_paths, release):  # noqa: F811
    two_releases.publish("r1", "test", by="a")
    before = snapshot(rt_paths["store"])
    for name, call in entry_points(two_releases, config).items():
        with pytest.raises(StoreError) as error:
            call(release)
        message = str(error.value)
        assert message.startswith(f"not a valid release id: {release!r}"), (name, message)
        assert "\n" not in message, name
    assert snapshot(rt_paths["store"]) == before


def test_a_number_is_refused_as_such_not_looked_up_as_text(two_releases):  # noqa: F811
    with pytest.raises(StoreError, match=r"2026\.1 is a float, not a string .*quote it"):
        two_releases.show(2026.1)


def test_a_release_id_from_the_history_is_checked_before_a_rollback_uses_it(config, two_releases):  # noqa: F811
    two_releases.publish("r1", "test", by="a")
    two_releases.publish("r2", "test", by="a")
    with open(two_releases.history_path, encoding="utf-8") as handle:
        text = handle.read()
    with open(two_releases.history_path, "w", encoding="utf-8") as handle:  # a hand-edited history
        handle.write(text.replace('"release": "r1"', '"release": "../../releases/r1"'))
    with pytest.raises(StoreError, match="no earlier release"):
        two_releases.rollback("test", by="a")
    assert two_releases.current("test") == "r2"


def test_files_whose_name_is_no_release_id_are_not_listed(two_releases):  # noqa: F811
    open(os.path.join(two_releases.releases_dir, ".hidden.yml"), "w").close()
    open(os.path.join(two_releases.releases_dir, "with space.yml"), "w").close()
    assert two_releases.list_ids() == ["r1", "r2"]


def test_salt_run_publish_of_a_path_exits_1_with_one_line(master, two_releases):  # noqa: F811
    salt_run = os.path.join(os.path.dirname(sys.executable), "salt-run")
    result = subprocess.run([salt_run, "-c", master.config_dir, "release.publish", "../releases/r1", "env=test"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == ["ERROR: not a valid release id: '../releases/r1' "
                                                  "(letters, digits, '.', '_', '+' or '-', at most 100, "
                                                  "starting with a letter or digit)"]
