"""Every component the default health gates name has services in every OS map of the formula.

The platforms are the formula's own map files (``parameters/os/*.yaml``,
``parameters/osfinger/*.yaml``), so a map added later is covered as well.
"""

import os

import pytest
import salt.grains.core

from releasetrain.deploy import settings
from releasetrain.loader import tree_path

PARAMETERS = os.path.join(tree_path("states"), "openstack", "parameters")


def platforms():
    """(map file, grains naming it) for every os and osfinger map."""
    found = []
    for grain in ("os", "osfinger"):
        for file_name in sorted(os.listdir(os.path.join(PARAMETERS, grain))):
            name = file_name.removesuffix(".yaml")
            os_name = name.rsplit("-", 1)[0] if grain == "osfinger" else name
            grains = {"os": os_name, "os_family": salt.grains.core._OS_FAMILY_MAP.get(os_name, os_name), grain: name}
            found.append(pytest.param(grains, id=f"{grain}/{file_name}"))
    return found


def gate_components():
    """Every component any default health gate names, in order of first mention."""
    names = {}
    for probes in settings.DEFAULTS["health"].values():
        for probe in probes:
            names.update(dict.fromkeys(probe["checks"].get("components") or []))
    return list(names)


def test_the_gates_name_components():
    assert {"keystone", "nova_controller", "neutron_server", "nova_compute"} <= set(gate_components())


@pytest.mark.parametrize("grains", platforms())
def test_every_gate_component_has_services_in_this_map(minion_functions, grains):
    services = minion_functions(grains)["openstack_health.component_services"](gate_components(), saltenv="test")
    empty = [name for name, names in services.items() if not names]
    assert not empty, f"no services for {empty} with grains {grains}"
    assert all(isinstance(name, str) and name for names in services.values() for name in names), services
