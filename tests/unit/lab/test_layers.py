"""Role layers' keys, failure lines and eviction (the builds themselves: tests/integration/lab/test_layers.py)."""

import json
import os
import time

import pytest

from releasetrain.lab import layers, settings
from releasetrain.lab.errors import LabError

CHUNK = {"state": "pkg", "fun": "installed", "__id__": "openstack-nova-compute-package-pkg-installed",
         "name": "openstack-nova-compute-package-pkg-installed", "pkgs": [{"nova-compute": "2:26.2.2-1~deb12u3"}],
         "__sls__": "openstack.nova.compute.package", "__env__": "volatile", "order": 10042}
REPO = {"state": "file", "fun": "managed", "__id__": "openstack-repo", "name": "/etc/apt/sources.list.d/x.list",
        "contents": "deb http://m/debian bookworm main", "__sls__": "openstack.repo", "__env__": "volatile", "order": 1}


def test_a_key_is_the_base_image_and_what_the_package_states_install():
    key = layers.digest("/c/images/bookworm-salt3008.4-a3a689defb", [CHUNK, REPO])
    # the environment it was rendered in and the state order are the run's, not the layer's
    assert key == layers.digest("/c/images/bookworm-salt3008.4-a3a689defb/",
                                [{**REPO, "__env__": "volatile2", "order": 7}, {**CHUNK, "__env__": "volatile2"}])
    others = [
        layers.digest("/c/images/trixie-salt3008.4-42209b66b7", [CHUNK, REPO]),
        layers.digest("/c/images/bookworm-salt3008.4-a3a689defb", [{**CHUNK, "pkgs": [{"nova-compute": "2:26.2.2-1"}]}, REPO]),
        layers.digest("/c/images/bookworm-salt3008.4-a3a689defb", [{**CHUNK, "pkgs": [{"nova-compute": None}, "qemu-kvm"]}, REPO]),
        layers.digest("/c/images/bookworm-salt3008.4-a3a689defb", [CHUNK, {**REPO, "contents": "deb http://n/debian bookworm main"}]),
        layers.digest("/c/images/bookworm-salt3008.4-a3a689defb", [CHUNK]),
        layers.digest("/c/images/bookworm-salt3008.4-a3a689defb", [CHUNK, REPO], ["nova-compute"]),
    ]
    assert len({key, *others}) == 7
    # the units left disabled, in any order
    assert layers.digest("/c/i/b", [CHUNK], ["b", "a"]) == layers.digest("/c/i/b", [CHUNK], ["a", "b"])


def test_the_units_a_layer_leaves_disabled_are_those_the_formula_starts_and_enables():
    def service(name, fun="running", **more):
        return {"state": "service", "fun": fun, "name": name, "__id__": f"x-{name}", "__sls__": "openstack.nova.compute.service", **more}
    chunks = [service("nova-compute", enable=True), service("libvirtd", enable=True), service("libvirtd", enable=True),
              service("virtlogd"),  # started, its enabling left to the package
              service("nova-api", fun="dead", enable=False), CHUNK,
              {"state": "file", "fun": "managed", "name": "/etc/nova/nova.conf", "enable": True}]
    assert layers.formula_units(chunks) == ["libvirtd", "nova-compute"]


def test_a_failed_build_is_named_by_its_first_failing_state():
    ok = {"pkg_|-a_|-a_|-installed": {"result": True, "comment": "fine"}}
    assert layers._failures({"local": ok}) == ""
    failed = {**ok, "pkg_|-nova_|-nova_|-installed": {"result": False, "comment": "E: Version '9' not found\nmore"}}
    assert layers._failures({"local": failed}) == "nova: E: Version '9' not found"
    assert layers._failures({"local": ["Rendering SLS 'volatile:openstack.roles.packages' failed: x\ny"]}) == (
        "Rendering SLS 'volatile:openstack.roles.packages' failed: x")
    pkg = {"result": False, "__run_num__": 3, "comment": (
        'Attempt 1: Returned a result of "False", with the following comment: "Problem encountered installing '
        'package(s). Additional info follows:\n\nerrors:\n    - Running as unit: run-1.scope\n'
        "      E: Failed to fetch http://10.0.0.1:3142/debian/pool/n/nova/x.deb  503  Service Unavailable\n")}
    requisite = {"result": False, "__run_num__": 1, "comment": "One or more requisite failed: x"}
    assert layers._failures({"local": {"file_|-conf_|-/etc/x_|-managed": requisite, "pkg_|-nova_|-nova_|-installed": pkg,
                                       **ok}}) == (
        "nova: E: Failed to fetch http://10.0.0.1:3142/debian/pool/n/nova/x.deb  503  Service Unavailable")
    assert layers._failures({"local": {}}) != ""
    assert layers._failures(None) != ""


def test_the_newest_layers_are_kept_and_the_ones_in_use_too(tmp_path, monkeypatch):
    monkeypatch.setattr(layers, "KEEP", 2)
    lab = settings.make(state_dir=str(tmp_path / "state"), cache_dir=str(tmp_path), mirror="http://m/debian",
                        security_mirror="http://m/debian-security")
    for age, name in enumerate(["newest", "newer", "old", "older"]):
        os.makedirs(tmp_path / "layers" / name / "upper")
        marker = tmp_path / "layers" / name / "ready.json"
        marker.write_text(json.dumps({"key": name}))
        os.utime(marker, (1_000_000 - age, 1_000_000 - age))
    os.makedirs(tmp_path / "layers" / "half-built" / "upper")  # no ready.json: another run builds it
    for name, age in ((".scratch-killed", layers.BUILD_TIMEOUT + 60), (".scratch-building", 5)):
        os.makedirs(tmp_path / "layers" / name / "upper")
        os.utime(tmp_path / "layers" / name, (time.time() - age, time.time() - age))
    assert layers.evict(lab, keep={"older"}) == ["old"]
    assert sorted(os.listdir(tmp_path / "layers")) == [".scratch-building", "half-built", "newer", "newest", "older"]


def test_a_release_tree_that_is_not_there_makes_no_layer(tmp_path):
    lab = settings.make(state_dir=str(tmp_path / "state"), cache_dir=str(tmp_path), mirror="http://m/debian",
                        security_mirror="http://m/debian-security")
    source = layers.Source(str(tmp_path / "states"), str(tmp_path / "pillar"), "volatile")
    with pytest.raises(LabError, match=r"role layers: the release's tree .*/states is not there"):
        layers.prepare(lab, None, [], source, {}, lambda node: "bookworm")


def test_the_files_the_package_states_name_are_keyed_by_content(tmp_path):
    tree = tmp_path / "states"
    (tree / "openstack" / "files" / "conf").mkdir(parents=True)
    (tree / "openstack" / "files" / "apt.pref").write_text("Package: *\n")
    (tree / "openstack" / "files" / "conf" / "a").write_text("a\n")
    (tree / "openstack" / "files" / "conf" / "zero").symlink_to("/dev/zero")  # never read
    (tree / "openstack" / "files" / "shadow").symlink_to("/etc/shadow")
    chunks = [{**CHUNK, "source": "salt://openstack/files/apt.pref?saltenv=volatile"},
              {"state": "file", "fun": "recurse", "name": "/etc/x", "source": ["salt://openstack/files/conf"]},
              {"state": "file", "fun": "managed", "name": "/etc/y", "sources": [{"a": "salt://../../etc/passwd"}]},
              {"state": "file", "fun": "managed", "name": "/etc/z", "source": "salt://openstack/files/shadow"},
              {"state": "file", "fun": "managed", "name": "/etc/w", "source": "salt://openstack/files/gone"}]
    found = layers.sources(chunks, str(tree))
    assert found["salt://../../etc/passwd"] == "outside"
    assert found["salt://openstack/files/shadow"] == "outside"
    assert found["salt://openstack/files/gone"] == "absent"
    assert len(found["salt://openstack/files/apt.pref?saltenv=volatile"]) == 64
    before = layers.digest("/c/i/b", chunks, files=found)
    assert before == layers.digest("/c/i/b", chunks, files=layers.sources(chunks, str(tree)))

    (tree / "openstack" / "files" / "conf" / "a").write_text("changed\n")  # same lowstate, other content
    assert layers.digest("/c/i/b", chunks, files=layers.sources(chunks, str(tree))) != before
    (tree / "openstack" / "files" / "conf" / "a").write_text("a\n")
    assert layers.digest("/c/i/b", chunks, files=layers.sources(chunks, str(tree))) == before
    (tree / "openstack" / "files" / "conf" / "b").write_text("")  # a new file in a folder a state copies
    assert layers.digest("/c/i/b", chunks, files=layers.sources(chunks, str(tree))) != before
