"""Every SLS of the formula compiled with its requisites, and every state ID in
template-formula's scheme: ``<sls path>-<module>-<function>[-<qualifier>]``.

``state.show_sls`` renders but resolves no requisite: a ``require`` or ``watch`` naming
an ID that no longer exists, or a ``require_in`` onto one, only fails when the states
run. A mocked run (``state.sls mock=True``) compiles the high data, extends and orders
it with every requisite, as a real run does, and calls no state function.
"""

import re

import pytest

from releasetrain.loader import tree_path
from tests.functional.formula.conftest import FormulaMinion, formula_sls, id_scheme_error

# An SLS whose own text holds a state ID or a component macro (the others only include).
OWN_STATES = re.compile(r"^(?!include:)[a-z{][^\n]*:[ \t]*$|^\{\{ \w+\(openstack, ", re.MULTILINE)


def _sls_with_states():
    states = tree_path("states")
    own = set()
    for sls in formula_sls():
        base = f"{states}/{sls.replace('.', '/')}"
        for path in (f"{base}.sls", f"{base}/init.sls"):
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except FileNotFoundError:
                continue
            if OWN_STATES.search(text):
                own.add(sls)
    return own


@pytest.fixture(scope="module", params=["debian-12", "debian-13"])
def mocked_run(request, tmp_path_factory):
    """One mocked run of every SLS of the formula on Debian 12 (linuxbridge) and on Debian 13
    (Open vSwitch and its bridge states), for a node of every role."""
    minion = FormulaMinion(tmp_path_factory.mktemp(request.param), request.param,
                           roles=["controller", "network", "compute"])
    retcode, data = minion.call("state.sls", ",".join(formula_sls()), "mock=True")
    assert retcode == 0 and isinstance(data, dict), "\n".join(data if isinstance(data, list) else [str(data)])
    return data


def test_every_sls_compiles_with_its_requisites(mocked_run):
    failed = {key: result["comment"] for key, result in mocked_run.items() if result["result"] is not True}
    assert not failed, failed
    assert {result["__sls__"] for result in mocked_run.values()} == _sls_with_states()


def test_every_state_id_follows_the_scheme(mocked_run):
    bad = []
    for key, result in mocked_run.items():
        module, state_id, _, function = key.split("_|-")
        assert state_id == result["__id__"]
        if error := id_scheme_error(state_id, result["__sls__"], module, function):
            bad.append(error)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("state_id, sls, module, function, ok", [
    ("openstack-keystone-package-pkg-installed", "openstack.keystone.package", "pkg", "installed", True),
    ("openstack-repo-pkgrepo-managed", "openstack.repo", "pkgrepo", "managed", True),
    ("openstack-infra-mariadb-databases-cmd-run-create-nova-api", "openstack.infra.mariadb.databases",
     "cmd", "run", True),
    ("keystone-package-pkg-installed", "openstack.keystone.package", "pkg", "installed", False),
    ("openstack-keystone-package-pkg-installedx", "openstack.keystone.package", "pkg", "installed", False),
    ("openstack-keystone-db-cmd-run-sync", "openstack.keystone.package", "cmd", "run", False),
    ("openstack-keystone-package-pkg-removed", "openstack.keystone.package", "pkg", "installed", False),
])
def test_the_scheme_check(state_id, sls, module, function, ok):
    assert (id_scheme_error(state_id, sls, module, function) is None) is ok
