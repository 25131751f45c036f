"""A missing required pillar key fails the render, naming the key, before any state runs."""

import re

import pytest

FIRST_LINE = re.compile(
    r"^Rendering SLS 'base:(?P<sls>[a-z.]+)' failed: Jinja error: missing pillar key "
    r"(?P<key>[a-z0-9_:]+) \(needed by (?P=sls)\); add it to the region pillar$"
)


def _missing_keys(errors):
    """The key each render error names, from the first line of each error."""
    keys = set()
    for error in errors:
        match = FIRST_LINE.match(error.splitlines()[0])
        assert match, f"render error does not start with one line naming the key: {error.splitlines()[0]}"
        keys.add(match["key"])
    return keys


@pytest.mark.parametrize(
    "drop, minion_id, sls, key",
    [
        ("openstack:secrets:keystone_db", "ctl01", "openstack.keystone", "openstack:secrets:keystone_db"),
        ("openstack:secrets:rabbitmq", "ctl01", "openstack.infra", "openstack:secrets:rabbitmq"),
        ("openstack:controller:address", "ctl01", "openstack.infra", "openstack:controller:address"),
        ("openstack:secrets:neutron", "ctl01", "openstack.nova.controller", "openstack:secrets:neutron"),
        ("openstack:nodes:cmp01:overlay_address", "cmp01", "openstack.neutron.compute",
         "openstack:nodes:cmp01:overlay_address"),
    ],
)
def test_render_fails_naming_the_missing_key(formula_minion, drop, minion_id, sls, key):
    minion = formula_minion("debian-12", minion_id=minion_id, drop=[drop])
    retcode, errors = minion.call("state.show_sls", sls)
    assert retcode != 0
    assert isinstance(errors, list) and errors
    assert _missing_keys(errors) == {key}


def test_a_missing_key_stops_the_run_before_any_state(formula_minion):
    """state.apply gets render errors back, not state results: nothing ran."""
    minion = formula_minion("debian-12", drop=["openstack:secrets:admin"])
    retcode, result = minion.call("state.apply", "openstack.infra,openstack.keystone", "test=True")
    assert retcode != 0
    assert isinstance(result, list), f"states ran: {sorted(result)[:5]}"
    assert _missing_keys(result) == {"openstack:secrets:admin"}


def test_complete_pillar_renders(formula_minion):
    """The same calls render once the pillar is complete (the failures above are the key's)."""
    states = formula_minion("debian-12", minion_id="cmp01").show_sls("openstack.keystone", "openstack.neutron.compute")
    assert "keystone-bootstrap-cmd-run-bootstrap" in states
