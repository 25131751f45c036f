"""The formula's parameters: maps, stages and the documented pillar example."""

import os

import pytest
import yaml

from releasetrain.loader import tree_path

FORMULA = os.path.join(tree_path("states"), "openstack")
EXAMPLE = os.path.join(tree_path("pillar"), "openstack.sls.example")
COMPONENT_KEYS = {"pkgs", "version", "services", "required", "config_mode", "config"}


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def defaults():
    return load(os.path.join(FORMULA, "parameters", "defaults.yaml"))["values"]


@pytest.fixture(scope="module")
def example():
    return load(EXAMPLE)["openstack"]


def components(defaults):
    return {name: value for name, value in defaults.items() if isinstance(value, dict) and "pkgs" in value}


def test_every_component_has_the_common_keys(defaults):
    assert len(components(defaults)) == 11
    for name, component in components(defaults).items():
        assert COMPONENT_KEYS <= set(component), name


def test_os_maps_only_override_known_options(defaults):
    for folder in ("os_family", "os", "osfinger"):
        for file_name in os.listdir(os.path.join(FORMULA, "parameters", folder)):
            overrides = load(os.path.join(FORMULA, "parameters", folder, file_name))["values"] or {}
            for key, value in overrides.items():
                assert key in defaults, f"{folder}/{file_name}: unknown option {key}"
                if isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]:
                    assert set(value) <= set(defaults[key]), f"{folder}/{file_name}: {key}"


def test_every_option_is_documented_in_the_example(defaults, example):
    """Top-level options, every component, required secret and component option appear."""
    with open(EXAMPLE, encoding="utf-8") as handle:
        text = handle.read()
    assert set(defaults) - set(components(defaults)) <= set(example)
    for name in components(defaults):
        assert name in text, f"component {name} is not named in {EXAMPLE}"
    required = {key for c in defaults.values() if isinstance(c, dict) for key in c.get("required", [])}
    for key in required:
        section, name = key.split(":")
        if section == "secrets":
            assert name in example["secrets"], key
        elif section == "node":
            assert any(name in node for node in example["nodes"].values()), key
        else:
            assert name in example[section], key
    documented = {option for value in example.values() if isinstance(value, dict) for option in value}
    for name, component in defaults.items():
        if isinstance(component, dict) and name not in ("nodes", "secrets"):
            missing = set(component) - documented
            assert not missing, f"{name}: undocumented options {sorted(missing)}"


def test_example_uses_the_gpg_renderer_for_secrets():
    with open(EXAMPLE, encoding="utf-8") as handle:
        text = handle.read()
    assert text.startswith("#!yaml|gpg\n")
    secrets = load(EXAMPLE)["openstack"]["secrets"]
    for name, value in secrets.items():
        for item in value if isinstance(value, list) else [value]:
            assert item.startswith("-----BEGIN PGP MESSAGE-----"), name


def test_every_stage_names_an_existing_sls():
    stages = load(os.path.join(FORMULA, "stages.yaml"))
    assert [stage["role"] for stage in stages["stages"]] and set(stages["roles"]) == {"controller", "network", "compute"}
    for stage in stages["stages"]:
        assert stage["role"] in stages["roles"]
        path = os.path.join(tree_path("states"), *stage["sls"].split("."))
        assert os.path.isfile(path + ".sls") or os.path.isfile(os.path.join(path, "init.sls")), stage["sls"]


def test_no_secret_literals_in_states_or_kitchen():
    """Secrets come from pillar: no state, map or kitchen file sets a password."""
    for top in (tree_path("states"), os.path.join(os.path.dirname(tree_path("states")), "kitchen")):
        for folder, _, files in os.walk(top):
            for file_name in files:
                if file_name.endswith((".sls", ".yaml", ".yml", ".jinja")):
                    with open(os.path.join(folder, file_name), encoding="utf-8") as handle:
                        for line in handle:
                            stripped = line.split("#")[0]
                            if "password:" in stripped:
                                value = stripped.split("password:", 1)[1].strip().strip("'\"")
                                assert value.startswith("{") or value == "", f"{folder}/{file_name}: {line}"
