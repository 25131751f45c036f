"""The deploy stages' SLS come from the formula's ``states/openstack/stages.yaml``."""

import pytest
import yaml

from releasetrain.deploy import plan as deploy_plan, settings
from releasetrain.errors import ReleaseTrainError

REGION = {"controller": ["ctl01", "ctl02"], "network": ["net01"], "compute": ["cmp01", "cmp02"]}


@pytest.fixture(scope="module")
def formula():
    with open(settings.FORMULA_STAGES, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["stages"]


def write_stages(tmp_path, *entries):
    path = tmp_path / "stages.yaml"
    path.write_text(yaml.safe_dump({"roles": ["controller", "network", "compute"], "stages": list(entries)}))
    return str(path)


def test_the_defaults_are_the_formula_stages_grouped_by_deploy_stage(formula):
    stages = settings.DEFAULTS["stages"]
    assert tuple(stages) == settings.STAGES, "every deploy stage, in deploy order"
    assert [sls for group in stages.values() for sls in group] == [entry["sls"] for entry in formula]
    for entry in formula:
        assert entry["sls"] in stages[entry["deploy_stage"]], entry["name"]


def test_stages_sharing_a_deploy_stage_keep_the_formula_order(tmp_path):
    path = write_stages(
        tmp_path,
        {"name": "b", "role": "compute", "sls": "f.b", "deploy_stage": "compute"},
        {"name": "k", "role": "controller", "sls": "f.k", "deploy_stage": "keystone"},
        {"name": "a", "role": "compute", "sls": "f.a", "deploy_stage": "compute"},
    )
    assert settings.formula_stages(path) == {"compute": ["f.b", "f.a"], "keystone": ["f.k"]}


@pytest.mark.parametrize("entry", [
    {"name": "glance", "role": "controller", "sls": "openstack.glance", "deploy_stage": "glance-placement"},
    {"name": "glance", "role": "controller", "sls": "openstack.glance"},
])
def test_a_formula_stage_without_a_known_deploy_stage_is_named(tmp_path, entry):
    path = write_stages(tmp_path, entry)
    with pytest.raises(ReleaseTrainError) as raised:
        settings.formula_stages(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: formula stage 'glance' has deploy_stage {entry.get('deploy_stage')!r}; known: infra,")
    assert "\n" not in message


@pytest.mark.parametrize("mode", ["bootstrap", "upgrade"])
def test_each_node_gets_the_formula_stages_of_its_role_in_order(formula, mode):
    """What ``openstack.roles`` would include for the node; cell discovery on the first controller only."""
    plan = deploy_plan.build_plan(settings.resolve(), REGION, "r2", "test", mode, date="20261125T0000Z")
    applied = {}
    for step in plan["steps"]:
        for node in step["targets"]:
            applied.setdefault(node, []).extend(step["sls"])
    first_controller_only = settings.DEFAULTS["stages"]["cell_discovery"]
    for role, nodes in REGION.items():
        for node in nodes:
            wanted = [
                entry["sls"]
                for entry in formula
                if entry["role"] == role and (node == "ctl01" or entry["sls"] not in first_controller_only)
            ]
            assert applied[node] == wanted, node


def test_every_stage_but_cell_discovery_names_its_package_sls_and_they_exist(formula):
    import os

    from releasetrain.loader import tree_path

    for entry in formula:
        packages = entry.get("packages") or []
        assert packages or entry["deploy_stage"] == "cell_discovery", entry["name"]
        for sls in packages:
            assert sls.endswith(".package"), sls
            assert os.path.isfile(os.path.join(tree_path("states"), *sls.split(".")) + ".sls"), sls
