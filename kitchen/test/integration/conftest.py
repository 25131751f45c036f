"""The openstack formula's parameters as the node under test gets them: defaults, then the
os_family, os and osfinger maps (states/openstack/map.jinja's order, without pillar), so the
verifiers name the packages and services the formula installs on that distribution."""

import os

import pytest
import yaml

PARAMETERS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "states", "openstack", "parameters")


def _merge(base, layer):
    """map.jinja's slsutil.merge (smart): mappings merge, anything else (lists, ~) replaces."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _layer(folder, name):
    path = os.path.join(PARAMETERS, folder, f"{name}.yaml")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return (yaml.safe_load(handle) or {}).get("values") or {}


def grains_of(distribution, release):
    """os, os_family and osfinger as Salt names them (Debian-13, Ubuntu-24.04)."""
    os_name = distribution.capitalize()
    version = release.split(".")[0] if os_name == "Debian" else release
    return {"os_family": "Debian", "os": os_name, "osfinger": f"{os_name}-{version}"}


def formula_map(grains):
    with open(os.path.join(PARAMETERS, "defaults.yaml"), encoding="utf-8") as handle:
        merged = yaml.safe_load(handle)["values"]
    for grain in ("os_family", "os", "osfinger"):
        merged = _merge(merged, _layer(grain, grains[grain]))
    return merged


@pytest.fixture(scope="module")
def openstack(host):
    """The merged formula map for the host's distribution and release."""
    info = host.system_info
    return formula_map(grains_of(info.distribution.lower(), info.release))
