"""salt-cloud configuration generated from the topology, loaded by salt-cloud's own config code."""

import os

import salt.cloud
import salt.config
import yaml

from releasetrain.lab import cloud, copies, topology


def test_generated_files_load_with_salt_cloud_config(tmp_path):
    topo = topology.load()
    written = cloud.write(topo, str(tmp_path), sizes={"compute": "m1.xlarge"})
    opts = load(written, tmp_path)
    assert opts["providers"][cloud.PROVIDER]["openstack"]["cloud"] == "releasetrain"
    profiles = opts["profiles"]
    for role in ("controller", "network", "compute"):
        profile = profiles[f"region-minimal-{role}"]
        assert profile["provider"] == f"{cloud.PROVIDER}:openstack"
        assert [net["name"] for net in profile["networks"]] == [
            "region-minimal-mgmt",
            "region-minimal-tenant",
            "region-minimal-provider",
        ]
    assert profiles["region-minimal-compute"]["size"] == "m1.xlarge"
    assert profiles["region-minimal-controller"]["size"] == cloud.DEFAULT_SIZES["controller"]


def load(written, tmp_path):
    return salt.config.cloud_config(
        written["main"],
        master_config_path=str(tmp_path / "master"),
        providers_config_path=str(tmp_path / "cloud.providers"),
        profiles_config_path=str(tmp_path / "cloud.profiles"),
    )


def test_map_lists_every_node_with_its_roles(tmp_path):
    """salt-cloud's own Map reader accepts the map against the generated profiles."""
    written = cloud.write(topology.load(), str(tmp_path))
    opts = load(written, tmp_path)
    opts["map"] = written["map"]
    mapped = salt.cloud.Map(opts).read()
    nodes = {name: spec for entries in mapped.values() for name, spec in entries.items()}
    assert sorted(nodes) == ["cmp01", "cmp02", "ctl01", "net01"]
    assert sorted(mapped["region-minimal-compute"]) == ["cmp01", "cmp02"]
    assert nodes["cmp02"]["grains"]["roles"] == ["compute"]
    assert {"name": "region-minimal-tenant", "fixed": ["10.231.20.32"]} in nodes["cmp02"]["networks"]


def test_a_nodes_distribution_picks_its_image(tmp_path):
    """A mixed region: cmp02's map entry overrides the profile's image with Debian 13; the rest keep it."""
    data = yaml.safe_load(open(topology.default_path(), encoding="utf-8"))
    data["nodes"][3]["distribution"] = "trixie"
    written = cloud.write(topology.parse(data, source="mixed.yml"), str(tmp_path), image="Ubuntu 24.04")
    opts = load(written, tmp_path)
    opts["map"] = written["map"]
    mapped = salt.cloud.Map(opts).read()
    images = {name: spec.get("image") for entries in mapped.values() for name, spec in entries.items()}
    assert images == {"ctl01": None, "net01": None, "cmp01": None, "cmp02": "Debian 13"}
    assert {profile["image"] for profile in opts["profiles"].values()} == {"Ubuntu 24.04"}


def test_runner_writes_the_files(make_master, tmp_path):
    salt_run = make_master().salt_run_cli(timeout=120)
    ret = salt_run.run("lab.cloud_config", f"out={tmp_path / 'cloud'}", "image=Ubuntu 24.04")
    assert ret.returncode == 0, ret.stdout
    assert os.path.exists(ret.data["main"])
    profiles = open(tmp_path / "cloud" / "cloud.profiles.d" / "releasetrain.conf", encoding="utf-8").read()
    assert "Ubuntu 24.04" in profiles


def test_runner_writes_a_candidate_regions_copy(make_master, tmp_path):
    """``copy=N``: the review gate's region candN, its nodes and networks named and moved as the lab's copy."""
    salt_run = make_master().salt_run_cli(timeout=120)
    ret = salt_run.run("lab.cloud_config", f"out={tmp_path / 'cloud'}", "copy=1")
    assert ret.returncode == 0, ret.stdout
    with open(ret.data["map"], encoding="utf-8") as handle:
        mapped = yaml.safe_load(handle)
    vms = {name: spec for entries in mapped.values() for entry in entries for name, spec in entry.items()}
    copy = topology.parse(copies.derived(topology.load(), 1))
    assert sorted(vms) == sorted(node.name for node in copy.nodes) == [
        "cand1-cmp01", "cand1-cmp02", "cand1-ctl01", "cand1-net01"]
    assert vms["cand1-ctl01"]["networks"][0] == {"name": "cand1-mgmt", "fixed": ["10.231.42.11"]}
    assert ret.data["map"].endswith("cand1.map")

    for bad in ("copy=0", "copy=-1", "copy=two"):
        ret = salt_run.run("lab.cloud_config", f"out={tmp_path / 'bad'}", bad)
        assert ret.returncode != 0 and "copy" in ret.stdout, (bad, ret.stdout)
    assert not (tmp_path / "bad").exists()
