"""release.rollback goes to the previous *different* release, under one hold of the store's lock."""

import json

import pytest

from releasetrain.release import packaging
from releasetrain.errors import StoreError
from releasetrain.release.store import Store
from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)
from tests.support.gitrepos import write_manifest


@pytest.fixture
def store(config, two_releases, formula_repos, rt_paths):  # noqa: F811
    """r1 and r2 of the fixture, and r3 (the pillar repo: other content again)."""
    packaging.package(config, write_manifest(rt_paths["work"] / "r3.yml", [
        {"name": "p", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][0], "path": "p"}],
        release="r3"))
    return two_releases


def served(store):
    return store.current("test")


def test_publishing_the_served_release_again_is_no_step_to_roll_back_to(store):
    for release in ("r1", "r3", "r3"):
        store.publish(release, "test", by="a")
    result = store.rollback("test", by="a")
    assert (result["release"], result["previous"], served(store)) == ("r1", "r3", "r1")
    with pytest.raises(StoreError, match=r"^'test' has no earlier release to roll back to \(it has served only 'r1'\)$"):
        store.rollback("test", by="a")
    assert served(store) == "r1"


def test_a_release_published_twice_and_nothing_else_has_nothing_to_roll_back_to(store):
    store.publish("r3", "test", by="a")
    store.publish("r3", "test", by="a")
    with pytest.raises(StoreError, match=r"\(it has served only 'r3'\)$"):
        store.rollback("test", by="a")
    with pytest.raises(StoreError, match=r"\(nothing was published there\)$"):
        store.rollback("staging", by="a")


def test_rollback_walks_back_through_different_releases_only(store):
    for release in ("r1", "r2", "r2", "r1", "r1", "r3", "r3"):
        store.publish(release, "test", by="a")
    walked = [store.rollback("test", by="a")["release"] for _ in range(3)]
    assert walked == ["r1", "r2", "r1"]
    with pytest.raises(StoreError, match="no earlier release"):
        store.rollback("test", by="a")


def test_a_history_left_by_the_rollback_that_stayed_put_still_rolls_back(store):
    """Before this fix, R1 -> R3 -> R3 then rollback republished R3 and recorded it as a rollback."""
    for release in ("r1", "r3", "r3"):
        store.publish(release, "test", by="a")
    with open(store.history_path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"action": "rollback", "release": "r3", "env": "test", "by": "a",
                                 "previous": "r3", "rolled_back": "r3", "time": "2026-11-30T00:00:00+00:00"}) + "\n")
    assert store.rollback("test", by="a")["release"] == "r1"
    assert served(store) == "r1"


class CountingLocks(Store):
    """The real store, counting how often it takes its lock."""

    taken = 0

    def lock(self):
        self.taken += 1
        return super().lock()


def test_rollback_reads_the_history_and_switches_under_one_hold_of_the_lock(config, store):  # noqa: F811
    store.publish("r1", "test", by="a")
    store.publish("r2", "test", by="a")
    counting = CountingLocks(config)
    assert counting.rollback("test", by="a")["release"] == "r1"
    assert counting.taken == 1
    counting.promote("r1", "production", by="a", force=True)
    assert counting.taken == 2
