"""publish, promote and rollback take the environment's lock themselves: while another process holds it
(the pipeline deploying there), they wait up to ``lock_timeout``, then give up in one line, changing nothing."""

import subprocess
import sys
import time

import pytest

from releasetrain import config as rt_config
from releasetrain.errors import ReleaseTrainError
from releasetrain.release.store import Store
from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)
from tests.support.gitrepos import snapshot

HOLDER = """
import sys, time
from releasetrain import config as rt_config
from releasetrain.release.store import env_lock
config = rt_config.load({"releasetrain": {"store": sys.argv[1]}})
with env_lock(config, sys.argv[2]):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def hold_env(rt_paths):
    """Start a process that holds ``env``'s lock for ``seconds``; it is stopped when the test ends."""
    holders = []

    def hold(env, seconds):
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(rt_paths["store"]), env, str(seconds)],
                                  stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout.readline() == "held\n"
        return holder

    yield hold
    for holder in holders:
        holder.kill()
        holder.wait()


def store_with_timeout(rt_paths, seconds):
    return Store(rt_config.load({"releasetrain": {"store": str(rt_paths["store"]), "cache": str(rt_paths["cache"]),
                                                  "lock_timeout": seconds}}))


def test_a_switch_gives_up_after_lock_timeout_while_another_process_deploys_there(two_releases, hold_env, rt_paths):
    two_releases.publish("r1", "test", by="a")
    two_releases.verify("r1", "test", by="a")
    store = store_with_timeout(rt_paths, 1)
    holder = hold_env("test", 60)
    before = snapshot(rt_paths["store"])
    for switch in (lambda: store.publish("r2", "test", by="b"), lambda: store.rollback("test", by="b")):
        began = time.monotonic()
        with pytest.raises(ReleaseTrainError) as refused:
            switch()
        assert str(refused.value) == f"pipeline env-test is locked by pid {holder.pid}; waited 1s, try again when it finishes"
        assert time.monotonic() - began >= 0.9
    assert snapshot(rt_paths["store"]) == before
    assert store.current("test") == "r1"
    assert store.publish("r2", "staging", by="b")["env"] == "staging"  # another environment's lock is free
    holder_staging = hold_env("staging", 60)
    with pytest.raises(ReleaseTrainError, match=rf"^pipeline env-staging is locked by pid {holder_staging.pid};"):
        store.promote("r1", "staging", by="b")
    assert store.current("staging") == "r2"


def test_a_switch_waits_for_the_deployment_to_end(two_releases, hold_env, rt_paths):
    store = store_with_timeout(rt_paths, 30)
    hold_env("test", 1)
    began = time.monotonic()
    assert store.publish("r1", "test", by="b")["release"] == "r1"
    assert time.monotonic() - began >= 0.5
    assert store.current("test") == "r1"


def test_the_pipeline_holding_the_lock_publishes_inside_it(two_releases):
    """Reentrant in one thread: the pipeline holds the lock over a deployment and publishes in it."""
    with two_releases.env_lock("test", timeout=0):
        two_releases.publish("r1", "test", by="pipeline")
        two_releases.verify("r1", "test", by="pipeline")
        two_releases.promote("r1", "staging", by="pipeline")
        two_releases.publish("r2", "test", by="pipeline")
        assert two_releases.rollback("test", by="pipeline")["release"] == "r1"
