"""A small deploy-kit world: two formula repos and a manifest pinning them."""

import pytest

from tests.support.gitrepos import commit, write_manifest


@pytest.fixture
def formula_repos(rt_paths):
    """Two real git repos with a few commits each; returns their paths and SHAs."""
    work = rt_paths["work"]
    formula, pillar = str(work / "openstack-formula"), str(work / "site-pillar")
    shas = {"formula": [], "pillar": []}
    shas["formula"].append(commit(formula, {
        "openstack/init.sls": "include:\n  - .keystone\n",
        "openstack/keystone.sls": "keystone-package-install-pkg-installed:\n  pkg.installed:\n    - name: keystone\n",
        "openstack/files/keystone-manage.sh": ("exec", "#!/bin/sh\nexec keystone-manage \"$@\"\n"),
        "openstack/files/current.conf": ("symlink", "keystone.conf"),
        "openstack/files/keystone.conf": "[DEFAULT]\ndebug = false\n",
        "README.md": "formula\n",
    }, "Add keystone states", timestamp=1_700_000_000))
    shas["formula"].append(commit(formula, {"openstack/keystone.sls": "keystone-package-install-pkg-installed:\n  pkg.installed:\n    - name: keystone\n    - version: 2:22.0.2-0+deb12u6\n"},
                                  "Pin keystone to the security update", timestamp=1_700_000_100))
    shas["pillar"].append(commit(pillar, {"top.sls": "base:\n  '*':\n    - region\n", "region.sls": "region: lab\n"},
                                 "Lab region pillar", timestamp=1_700_000_050))
    return {"formula": formula, "pillar": pillar, "shas": shas}


@pytest.fixture
def manifest_path(formula_repos, rt_paths):
    """A native manifest pinning both repos at their newest SHAs (release 2026.11.0)."""
    return write_manifest(rt_paths["work"] / "manifest.yml", [
        {"name": "openstack-formula", "url": f"file://{formula_repos['formula']}",
         "sha": formula_repos["shas"]["formula"][-1], "path": "states/openstack", "subdir": "openstack"},
        {"name": "site-pillar", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][-1],
         "path": "pillar"},
    ], release="2026.11.0")
