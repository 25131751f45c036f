"""A missing required pillar key fails the render, naming the key, before any state runs."""

import re

import pytest

FIRST_LINE = re.compile(
    r"^Rendering SLS 'base:(?P<sls>[a-z.]+)' failed: Jinja error: missing pillar key "
    r"(?P<key>[a-z0-9_:]+) \(needed by (?P=sls)\); add it to the region pillar$"
)

BAD_SECRET = re.compile(
    r"^Rendering SLS 'base:(?P<sls>openstack\.infra[a-z.]*)' failed: Jinja error: pillar key "
    r"openstack:secrets:rabbitmq has characters the formula cannot put in URLs and config files as they "
    r"are \(needed by (?P=sls)\); use letters, digits, '-' and '_', as releasetrain.secrets makes them$"
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
    assert "openstack-keystone-bootstrap-cmd-run-bootstrap" in states


@pytest.mark.parametrize("password", ["p@ss/word", "50%off", "a$b", "two words", "quo'te"])
def test_a_secret_that_would_break_a_url_or_config_fails_the_render(formula_minion, password):
    """Secrets go into transport URLs, database URLs and oslo.config files as they are."""
    minion = formula_minion("debian-12", extra={"secrets": {"rabbitmq": password}})
    retcode, errors = minion.call("state.show_sls", "openstack.infra")
    assert retcode != 0 and isinstance(errors, list) and errors
    for error in errors:
        assert BAD_SECRET.match(error.splitlines()[0]), error.splitlines()[0]


def test_a_secret_that_starts_with_a_dash_renders(formula_minion):
    """'-' and '_' are in the alphabet releasetrain.secrets draws from (URL-safe base64)."""
    minion = formula_minion("debian-12", extra={"secrets": {"rabbitmq": "-Wj6yJOO_R_ReXlY"}})
    assert "openstack-infra-rabbitmq-user-cmd-run-add-user" in minion.show_sls("openstack.infra")
