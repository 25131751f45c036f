"""Role layers built for real: salt-call in a scratch copy of the cached base image renders and
applies ``openstack.roles.packages`` of a release tree this test writes (a file, a check that no
service may start and a list of the network links the states see, not packages: no network
needed), and a node's overlay root mounts it.  The nodes are those of a lab copy of the test's
own, so their namespaces do not meet a lab that is up."""

import os

import pytest

from releasetrain.lab import copies, host, image, layers, network, nodes, settings, topology
from releasetrain.lab.errors import LabError

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PACKAGES_SLS = """\
include:
  - openstack.thing.package
"""
# what a package's maintainer scripts do: a unit file and its wants link (deb-systemd-helper)
THING_PACKAGE_SLS = """\
layer-marker:
  file.managed:
    - name: /etc/releasetrain-layer-test
    - contents: {{ (pillar['marker'] ~ ' ' ~ grains['roles'] | join(',')) | tojson }}
no-service-may-start:
  cmd.run:
    - name: '/usr/sbin/policy-rc.d; test $? = 101'
the-node-knows-its-name:  # nova-common's postinst fails where the host's name does not resolve
  cmd.run:
    - name: hostname -f > /etc/releasetrain-layer-fqdn
links-the-states-see:
  cmd.run:
    - name: "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /etc/releasetrain-layer-links"
layer-file:
  file.managed:
    - name: /etc/releasetrain-layer-file
    - source: salt://openstack/thing/files/motd
{%- for unit in ['rt-layer-formula', 'rt-layer-package'] %}
{{ unit }}-installed:
  file.managed:
    - name: /lib/systemd/system/{{ unit }}.service
    - contents: "[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n"
  cmd.run:
    - name: ln -sf /lib/systemd/system/{{ unit }}.service /etc/systemd/system/multi-user.target.wants/
{%- endfor %}
{%- if pillar.get('fail') %}
a-package-that-fails:
  cmd.run:
    - name: 'echo "E: Unable to locate package nova-compte" >&2; exit 100'
{%- endif %}
"""
# the formula's service states: it starts and enables rt-layer-formula itself, rt-layer-package only runs;
# like the formula's, they need the node's address, which the lab's ext_pillar gives its minions
THING_SERVICE_SLS = """\
{%- if pillar.get('no_secrets') %}
{{ raise('missing pillar key openstack:secrets:thing') }}
{%- endif %}
{%- if not salt['pillar.get']('openstack:nodes:' ~ grains['id'] ~ ':management_address') %}
{{ raise('missing pillar key openstack:nodes:' ~ grains['id'] ~ ':management_address (the lab gives it)') }}
{%- endif %}
rt-layer-formula:
  service.running:
    - enable: true
rt-layer-package:
  service.running: []
"""


@pytest.fixture
def release(tmp_path):
    def write(marker, fail=False, no_secrets=False, motd="hello\n"):
        tree = tmp_path / f"release-{marker}"
        for folder, files in (("roles", {"packages.sls": PACKAGES_SLS}),
                              ("thing", {"package.sls": THING_PACKAGE_SLS, "service.sls": THING_SERVICE_SLS})):
            (tree / "states" / "openstack" / folder).mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (tree / "states" / "openstack" / folder / name).write_text(text)
        (tree / "states" / "openstack" / "thing" / "files").mkdir(exist_ok=True)
        (tree / "states" / "openstack" / "thing" / "files" / "motd").write_text(motd)
        (tree / "pillar").mkdir(exist_ok=True)
        (tree / "pillar" / "top.sls").write_text("volatile:\n  '*':\n    - marker\n")
        (tree / "pillar" / "marker.sls").write_text(
            f"marker: {marker}\nfail: {str(fail).lower()}\nno_secrets: {str(no_secrets).lower()}\n")
        return layers.Source(str(tree / "states"), str(tree / "pillar"), "volatile")
    return write


@pytest.fixture
def lab(lab_settings, tmp_path):
    """Settings whose layers go to a folder of this test's; the shared base image."""
    own = settings.make(state_dir=str(tmp_path / "state"), cache_dir=str(tmp_path / "cache"))
    return own, {lab_settings.suite: image.ensure(lab_settings, lab_settings.suite)}, lab_settings.suite


@pytest.fixture
def topo():
    """A lab copy's topology with its bridges and its nodes' namespaces, removed afterwards."""
    made = topology.parse(copies.derived(topology.load(), 97), source="test")
    try:
        for net in made.networks:
            network.ensure_bridge(made, net)
        for node in made.nodes:
            network.ensure_node(made, node)
        yield made
    finally:
        network.remove(made)
    assert not network.leftovers(made)


def test_a_layer_holds_what_the_package_states_made_and_is_built_once(lab, release, topo, tmp_path):
    own, base_roots, suite = lab
    ctl, net = topo.nodes[0], topo.nodes[1]
    lines = []
    made = layers.prepare(own, topo, [ctl, net], release("one"), base_roots, lambda node: suite, log=lines.append)
    assert made[ctl.name] != made[net.name]  # other roles, other package states
    for node in (ctl, net):
        upper = made[node.name]
        with open(os.path.join(upper, "etc/releasetrain-layer-test"), encoding="utf-8") as handle:
            assert handle.read() == f"one {','.join(node.roles)}\n"
        with open(os.path.join(upper, "etc/releasetrain-layer-links"), encoding="utf-8") as handle:
            assert handle.read().split() == sorted(["lo", *node.addresses]), "the build ran outside its node's namespace"
        with open(os.path.join(upper, "etc/releasetrain-layer-fqdn"), encoding="utf-8") as handle:
            assert handle.read().strip() == node.name
        wants = os.path.join(upper, "etc/systemd/system/multi-user.target.wants")
        assert sorted(os.listdir(wants)) == ["rt-layer-package.service"]  # the formula enables its own in its stage
        for scratch in layers.SCRATCH:  # the build's own files are not kept
            assert not os.path.lexists(os.path.join(upper, scratch)), scratch
    assert sum("installing" in line for line in lines) == 2

    lines.clear()
    again = layers.prepare(own, topo, [ctl, net], release("one"), base_roots, lambda node: suite, log=lines.append)
    assert again == made and not any("installing" in line for line in lines)

    other = layers.prepare(own, topo, [ctl], release("two"), base_roots, lambda node: suite, log=lines.append)
    assert other[ctl.name] != made[ctl.name]  # the pillar changed what the states make

    # the same states copying a file of other content: a layer of its own, holding that content
    motd = layers.prepare(own, topo, [ctl], release("one", motd="changed\n"), base_roots, lambda node: suite,
                          log=lines.append)
    assert motd[ctl.name] != made[ctl.name]
    with open(os.path.join(motd[ctl.name], "etc/releasetrain-layer-file"), encoding="utf-8") as handle:
        assert handle.read() == "changed\n"

    # service states that do not render (a broken patchset: its precheck halts on the same render): no layer
    before = sorted(os.listdir(layers.root_dir(own)))
    with pytest.raises(LabError, match=rf"^role layers: the service states do not render for {ctl.name}: .*"
                                       r"missing pillar key openstack:secrets:thing"):
        layers.prepare(own, topo, [ctl], release("one", no_secrets=True), base_roots, lambda node: suite)
    assert sorted(os.listdir(layers.root_dir(own))) == before

    dirs = nodes.NodeDirs(str(tmp_path / "state"), ctl)
    nodes.ensure_root(dirs, base_roots[suite], made[ctl.name])
    try:
        with open(os.path.join(dirs.root, "etc/releasetrain-layer-test"), encoding="utf-8") as handle:
            assert handle.read() == f"one {','.join(ctl.roles)}\n"
        assert os.path.exists(os.path.join(dirs.root, "opt/salt/bin/salt-minion"))  # the base image below
    finally:
        nodes.unmount(dirs)


def test_a_failing_package_state_makes_no_layer_and_says_which(lab, release, topo):
    own, base_roots, suite = lab
    with pytest.raises(LabError, match=rf"openstack.roles.packages failed for {topo.nodes[0].name}: a-package-that-fails: "):
        layers.prepare(own, topo, [topo.nodes[0]], release("three", fail=True), base_roots, lambda node: suite)
    left = os.listdir(layers.root_dir(own))
    assert not [name for name in left if not name.endswith(".lock")], left
    assert not [point for point in host.mount_points() if point.startswith(layers.root_dir(own))]


def test_a_node_without_its_namespace_gets_no_layer(lab, release):
    own, base_roots, suite = lab
    alone = topology.parse(copies.derived(topology.load(), 98), source="test")
    with pytest.raises(LabError, match=rf"role layers: {alone.nodes[0].name} has no network namespace "):
        layers.prepare(own, alone, [alone.nodes[0]], release("four"), base_roots, lambda node: suite)
    assert not os.path.isdir(layers.root_dir(own)) or not os.listdir(layers.root_dir(own))
