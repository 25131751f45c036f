"""plan.plan_release and role_members with the ping injected: what the deploy.plan runner does, without a master."""

import pytest

from releasetrain import config as rt_config
from releasetrain.deploy import plan, settings
from releasetrain.errors import ReleaseTrainError

ROLES = {"controller": ["ctl01"], "network": ["net01"], "compute": ["cmp01", "cmp02"]}


def ping_for(answering, known=None):
    """A ping that answers for ``answering``; ``known`` (default: the same) is what the master knows."""
    known = known or answering
    calls = []

    def ping(target, tgt_type, timeout):
        calls.append((target, tgt_type, timeout))
        role = next(role for role, pattern in (("controller", "roles:controller"), ("network", "roles:network"),
                                               ("compute", "roles:compute")) if pattern == target)
        return list(reversed(answering.get(role, []))), known.get(role, [])

    ping.calls = calls
    return ping


def test_every_role_is_pinged_with_its_target_and_members_come_sorted():
    ping = ping_for(ROLES)
    members = plan.role_members(settings.resolve()["targets"], ping, timeout=7)
    assert members == ROLES
    assert {call[0] for call in ping.calls} == {"roles:controller", "roles:network", "roles:compute"}
    assert all(call[1] == "grain" and call[2] == 7 for call in ping.calls)


def test_a_known_minion_that_does_not_answer_halts_the_plan_naming_it():
    ping = ping_for({**ROLES, "compute": ["cmp01"]}, known=ROLES)
    with pytest.raises(ReleaseTrainError, match=r"^cmp02 \(compute, roles:compute\) did not answer test.ping"):
        plan.role_members(settings.resolve()["targets"], ping, timeout=5)


@pytest.fixture
def config(tmp_path):
    return rt_config.load({"releasetrain": {"store": str(tmp_path / "store"), "cache": str(tmp_path / "cache")}})


def test_a_release_that_is_not_served_is_refused_before_any_ping(config):
    ping = ping_for(ROLES)
    with pytest.raises(ReleaseTrainError, match=r"release 'r1' is not published to 'test' \(it serves None\)"):
        plan.plan_release(config, "r1", "test", None, None, None, ping)
    assert ping.calls == []


def test_an_unknown_environment_is_refused(config):
    with pytest.raises(ReleaseTrainError, match="unknown environment"):
        plan.plan_release(config, "r1", "nowhere", None, None, None, ping_for(ROLES))
