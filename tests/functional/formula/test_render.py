"""Every SLS of the openstack formula rendered by a real Salt as each supported OS."""

import json
import os
import pathlib
import shlex

import pytest
import yaml

from tests.functional.formula.conftest import PLATFORMS, by_function, id_scheme_error, stage_sls, state_args

# What the OS maps must give, per platform: service names and repositories.
EXPECTED_SERVICES = {
    "debian-12": {"keystone", "placement-api", "glance-api", "nova-api", "nova-api-metadata",
                  "nova-novncproxy", "neutron-api", "neutron-rpc-server", "mariadb",
                  "rabbitmq-server", "memcached", "neutron-linuxbridge-agent"},
    "debian-13": {"keystone", "placement-api", "glance-api", "nova-api", "nova-api-metadata",
                  "nova-novncproxy", "neutron-api", "neutron-rpc-server", "neutron-periodic-workers",
                  "mariadb", "rabbitmq-server", "memcached", "openvswitch-switch",
                  "neutron-openvswitch-agent"},
    "ubuntu-22.04": {"apache2", "glance-api", "nova-api", "nova-novncproxy", "neutron-server",
                     "mariadb", "rabbitmq-server", "memcached"},
    "ubuntu-24.04": {"apache2", "glance-api", "nova-api", "nova-novncproxy", "neutron-server",
                     "mariadb", "rabbitmq-server", "memcached"},
}
NOT_EXPECTED_SERVICES = {
    "debian-12": {"apache2", "neutron-server", "neutron-openvswitch-agent", "openvswitch-switch"},
    "debian-13": {"apache2", "neutron-server", "neutron-linuxbridge-agent"},
    "ubuntu-22.04": {"keystone", "nova-api-metadata", "neutron-api"},
    "ubuntu-24.04": {"keystone", "nova-api-metadata", "neutron-api"},
}
NOVNC_PACKAGE = {"debian-12": "nova-consoleproxy", "debian-13": "nova-consoleproxy", "ubuntu-22.04": "nova-novncproxy", "ubuntu-24.04": "nova-novncproxy"}


def _names(pkgs):
    return [next(iter(p)) if isinstance(p, dict) else p for p in pkgs]


def _config(states, state_id):
    return state_args(states[state_id])["contents"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every stage's SLS rendered once per platform (one salt-call each)."""
    from tests.functional.formula.conftest import FormulaMinion

    result = {}
    for platform in PLATFORMS:
        root = tmp_path_factory.mktemp(platform)
        minion = FormulaMinion(root, platform, roles=["controller", "network", "compute"])
        result[platform] = minion.show_sls(*stage_sls())
    return result


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_every_stage_renders_with_template_formula_ids(rendered, platform):
    states = rendered[platform]
    assert {state["__sls__"].rsplit(".", 1)[0] for state in states.values()} >= {
        "openstack.infra.mariadb", "openstack.keystone", "openstack.glance", "openstack.placement",
        "openstack.nova.controller", "openstack.nova.compute", "openstack.neutron.server",
        "openstack.neutron.network", "openstack.neutron.compute",
    }
    bad = [
        error
        for state_id, state in states.items()
        for module in state if not module.startswith("__")
        for function in state[module] if isinstance(function, str)
        if (error := id_scheme_error(state_id, state["__sls__"], module, function))
    ]
    assert not bad, "state IDs not of the form <sls path>-<module>-<function>[-<qualifier>]:\n" + "\n".join(bad)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_os_maps_give_the_service_names(rendered, platform):
    services = {args["name"] for args in by_function(rendered[platform], "service.running").values()}
    assert EXPECTED_SERVICES[platform] <= services
    assert not NOT_EXPECTED_SERVICES[platform] & services


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_os_maps_give_the_package_names(rendered, platform):
    states = rendered[platform]
    nova = _names(state_args(states["openstack-nova-controller-package-pkg-installed"])["pkgs"])
    assert NOVNC_PACKAGE[platform] in nova
    neutron = _names(state_args(states["openstack-neutron-server-package-pkg-installed"])["pkgs"])
    if platform.startswith("debian-"):
        assert {"neutron-api", "neutron-rpc-server"} <= set(neutron)
    else:
        assert {"neutron-server", "neutron-plugin-ml2"} <= set(neutron)
    compute = _names(state_args(states["openstack-nova-compute-package-pkg-installed"])["pkgs"])
    assert {"nova-compute", "nova-compute-qemu"} <= set(compute)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_only_ubuntu_2204_adds_the_cloud_archive(rendered, platform):
    repos = by_function(rendered[platform], "pkgrepo.managed")
    if platform == "ubuntu-22.04":
        (repo,) = repos.values()
        assert "jammy-updates/antelope" in repo["name"]
    else:
        assert not repos
        assert "openstack-repo-test-nop" in rendered[platform]


LINUXBRIDGE_PLATFORMS = sorted(set(PLATFORMS) - {"debian-13"})


@pytest.mark.parametrize("platform", LINUXBRIDGE_PLATFORMS)
def test_linuxbridge_is_allowed_everywhere_neutron_reads_it(rendered, platform):
    """bookworm's neutron 21 and 2024.1 refuse the experimental linuxbridge driver otherwise."""
    for component in ("neutron-server", "neutron-network", "neutron-compute"):
        neutron_conf = _config(rendered[platform], f"openstack-{component}-config-file-managed-neutron.conf")
        assert "[experimental]\nlinuxbridge = true" in neutron_conf, component


@pytest.mark.parametrize("platform", LINUXBRIDGE_PLATFORMS)
def test_linuxbridge_platforms_keep_the_linuxbridge_agent(rendered, platform):
    """Zed, 2023.1 and 2024.1 still have linuxbridge: their maps stay on it, no Open vSwitch."""
    states = rendered[platform]
    ml2 = _config(states, "openstack-neutron-server-config-file-managed-ml2_conf.ini")
    assert "mechanism_drivers = linuxbridge,l2population" in ml2
    for component in ("neutron-network", "neutron-compute"):
        agent = _config(states, f"openstack-{component}-config-file-managed-linuxbridge_agent.ini")
        assert "physical_interface_mappings = provider:" in agent and "enable_vxlan = true" in agent
        assert f"openstack-{component}-config-file-managed-openvswitch_agent.ini" not in states
        assert f"openstack-{component}-config-cmd-run-br-provider" not in states
        pkgs = _names(state_args(states[f"openstack-{component}-package-pkg-installed"])["pkgs"])
        assert "neutron-linuxbridge-agent" in pkgs and "neutron-openvswitch-agent" not in pkgs
    for ini in ("l3_agent.ini", "dhcp_agent.ini"):
        text = _config(states, f"openstack-neutron-network-config-file-managed-{ini}")
        assert "interface_driver = linuxbridge" in text and "ovs_use_veth" not in text


def _lab_nodes():
    from releasetrain.loader import tree_path

    with open(pathlib.Path(tree_path("pillar"), "openstack", "region", "lab.sls"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["openstack"]["nodes"]


LAB_NODES = _lab_nodes()


def _ini(text):
    """An INI text as {section: {option: value}}."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {section: dict(parser[section]) for section in parser.sections()} | {"DEFAULT": dict(parser.defaults())}


def test_debian_13_runs_neutron_on_open_vswitch_with_the_userspace_datapath(rendered):
    """Epoxy has no linuxbridge driver nor agent: ML2/OVS, netdev datapath (no openvswitch
    kernel module in the lab), veth pairs into the L3/DHCP namespaces, no [experimental]."""
    states = rendered["debian-13"]
    ml2 = _ini(_config(states, "openstack-neutron-server-config-file-managed-ml2_conf.ini"))
    assert ml2["ml2"]["mechanism_drivers"] == "openvswitch,l2population"
    assert ml2["ml2"]["type_drivers"] == "flat,vlan,vxlan" and ml2["ml2"]["tenant_network_types"] == "vxlan"
    assert ml2["ml2_type_flat"]["flat_networks"] == "provider"
    for component in ("neutron-server", "neutron-network", "neutron-compute"):
        neutron_conf = _ini(_config(states, f"openstack-{component}-config-file-managed-neutron.conf"))
        assert "experimental" not in neutron_conf, component
    for component in ("neutron-network", "neutron-compute"):
        assert f"openstack-{component}-config-file-managed-linuxbridge_agent.ini" not in states
        agent = _ini(_config(states, f"openstack-{component}-config-file-managed-openvswitch_agent.ini"))
        assert agent["ovs"] == {"datapath_type": "netdev", "bridge_mappings": "provider:br-provider",
                                "local_ip": LAB_NODES["ctl01"]["overlay_address"]}, component
        assert agent["agent"] == {"tunnel_types": "vxlan", "l2_population": "true"}, component
        assert agent["securitygroup"]["firewall_driver"] == "iptables_hybrid", component
        pkgs = _names(state_args(states[f"openstack-{component}-package-pkg-installed"])["pkgs"])
        assert {"neutron-openvswitch-agent", "openvswitch-switch"} <= set(pkgs), component
        assert not {"neutron-linuxbridge-agent", "bridge-utils"} & set(pkgs), component
    for ini in ("l3_agent.ini", "dhcp_agent.ini"):
        default = _ini(_config(states, f"openstack-neutron-network-config-file-managed-{ini}"))["DEFAULT"]
        assert default["interface_driver"] == "openvswitch" and default["ovs_use_veth"] == "true", ini


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_mariadb_keeps_the_general_ci_collations_where_it_would_change_them(rendered, platform):
    """MariaDB 11.8 (Debian 13) defaults CHARSET=utf8 tables to uca1400: a table made after the
    upgrade from 10.11 cannot reference one made before. Older MariaDB lacks the option."""
    mysqld = _ini(_config(rendered[platform], "openstack-infra-mariadb-config-file-managed-99-openstack.cnf"))["mysqld"]
    if platform == "debian-13":
        assert mysqld["character_set_collations"] == "utf8mb3=utf8mb3_general_ci,utf8mb4=utf8mb4_general_ci"
    else:
        assert "character_set_collations" not in mysqld
    assert mysqld["collation-server"] == "utf8_general_ci"


PROVIDER = LAB_NODES["ctl01"]["provider_interface"]


@pytest.mark.parametrize("component", ["neutron-network", "neutron-compute"])
def test_debian_13_puts_the_provider_interface_on_br_provider(rendered, component):
    """The bridge of bridge_mappings exists before the agent starts, netdev, with the
    node's provider interface; made with --may-exist and skipped once it is there."""
    states = rendered["debian-13"]
    bridge = states[f"openstack-{component}-config-cmd-run-br-provider"]
    assert bridge["__sls__"] == f"openstack.{component.replace('-', '.', 1)}.config"
    args = state_args(bridge)
    assert args["name"].split("\n")[:2] == [
        "ovs-vsctl --timeout=30 --may-exist add-br br-provider -- set bridge br-provider datapath_type=netdev",
        f"ovs-vsctl --timeout=30 --may-exist add-port br-provider {PROVIDER}",
    ]
    assert f"port-to-br {PROVIDER})\" = br-provider" in args["unless"] and "= netdev" in args["unless"]
    watch = state_args(states[f"openstack-{component}-service-service-running-neutron-openvswitch-agent"])["watch"]
    assert {"sls": f"openstack.{component.replace('-', '.', 1)}.config"} in watch


@pytest.mark.parametrize("pillar, datapath", [({"drop": ("openstack:openvswitch",)}, "system"),
                                               ({"extra": {"openvswitch": {"datapath_type": "netdev"}}}, "netdev")])
def test_one_parameter_sets_the_datapath_of_the_agent_and_of_br_provider(formula_minion, pillar, datapath):
    """openvswitch:datapath_type: the kernel's datapath unless the pillar says otherwise (the lab's
    region pillar says netdev); the agent's bridges and br-provider always share it."""
    minion = formula_minion("debian-13", minion_id="net01", roles=["network"], **pillar)
    states = minion.show_sls("openstack.neutron.network.config")
    agent = _ini(_config(states, "openstack-neutron-network-config-file-managed-openvswitch_agent.ini"))
    assert agent["ovs"]["datapath_type"] == datapath
    bridge = state_args(states["openstack-neutron-network-config-cmd-run-br-provider"])
    assert f"set bridge br-provider datapath_type={datapath}\n" in bridge["name"]
    assert f"= {datapath}" in bridge["unless"]


def test_a_datapath_open_vswitch_does_not_have_fails_the_render_in_one_line(formula_minion):
    minion = formula_minion("debian-13", minion_id="net01", roles=["network"],
                            extra={"openvswitch": {"datapath_type": "netdev; touch /tmp/owned"}})
    retcode, data = minion.call("state.show_sls", "openstack.neutron.network.config")
    said = json.dumps(data)
    assert retcode != 0 and 'datapath_type \\"netdev; touch /tmp/owned\\" is not one of system, netdev' in said, said
    assert "pillar openstack:openvswitch:datapath_type" in said


def test_the_bridge_commands_quote_what_the_pillar_gives(formula_minion):
    """A provider interface name with shell and YAML characters reaches ovs-vsctl as one word."""
    odd = "prov 'x'; touch /tmp/owned: #y"
    minion = formula_minion("debian-13", minion_id="net01", roles=["network"],
                            extra={"nodes": {"net01": {"provider_interface": odd}}})
    args = state_args(minion.show_sls("openstack.neutron.network.config")[
        "openstack-neutron-network-config-cmd-run-br-provider"])
    quoted = shlex.quote(odd)
    assert args["name"].split("\n")[1] == f"ovs-vsctl --timeout=30 --may-exist add-port br-provider {quoted}"
    assert f"port-to-br {quoted})\" = br-provider ]" in args["unless"]


def test_configuration_is_rendered_from_pillar(rendered):
    states = rendered["debian-12"]
    keystone = _config(states, "openstack-keystone-config-file-managed-keystone.conf")
    assert "connection = mysql+pymysql://keystone:" in keystone and "@10.231.10.11/keystone" in keystone
    assert keystone.startswith("[DEFAULT]\ndebug = True\n")  # the test environment's pillar
    ml2 = _config(states, "openstack-neutron-server-config-file-managed-ml2_conf.ini")
    assert "mechanism_drivers = linuxbridge,l2population" in ml2
    assert "tenant_network_types = vxlan" in ml2
    nova = _config(states, "openstack-nova-controller-config-file-managed-nova.conf")
    assert "transport_url = rabbit://openstack:" in nova


# Lines of the packaged files the formula edits (bookworm's libvirt-daemon-system
# 9.0.0 and neutron-api 2:21.x), around the option it sets.
QEMU_CONF = (
    "# the cgroup controllers to use\n"
    "#\n"
    '#cgroup_controllers = [ "cpu", "devices", "memory", "blkio", "cpuset", "cpuacct" ]\n'
    "\n"
    "# This is the basic set of devices allowed / required by\n"
)
NEUTRON_API_UWSGI_INI = (
    "[uwsgi]\n"
    "enable-threads = true\n"
    "processes = 8\n"
    "threads = 32\n"
    "listen = 100\n"
)


def _apply_settings(minion, state, path):
    """Apply one rendered ``file.keyvalue`` state to ``path``: its changes."""
    args = {key: value for key, value in state_args(state).items() if key not in ("name", "require")}
    retcode, data = minion.call(
        "state.single", "file.keyvalue", f"name={path}", *(f"{key}={json.dumps(value)}" for key, value in args.items())
    )
    (result,) = data.values()
    assert retcode == 0 and result["result"] is True, result
    return result["changes"]


@pytest.mark.parametrize("minion_id, role, sls, state_id, path, packaged, expected", [
    ("cmp01", "compute", "openstack.nova.compute", "openstack-nova-compute-config-file-keyvalue-qemu.conf",
     "/etc/libvirt/qemu.conf", QEMU_CONF, "cgroup_controllers = [ ]"),
    ("ctl01", "controller", "openstack.neutron.server",
     "openstack-neutron-server-config-file-keyvalue-neutron-api-uwsgi.ini", "/etc/neutron/neutron-api-uwsgi.ini",
     NEUTRON_API_UWSGI_INI, "threads = 1"),
])
def test_settings_change_one_option_of_a_packaged_file(formula_minion, tmp_path, minion_id, role, sls, state_id,
                                                      path, packaged, expected):
    """Lab nodes are containers with read-only cgroup controllers: libvirt must not give
    guests cgroups. Debian's neutron-api runs 32 uwsgi threads, which hang neutron's eventlet
    locks: one. Each is one line of the packaged file; the rest of the file stays Debian's."""
    minion = formula_minion("debian-12", minion_id=minion_id, roles=[role])
    state = minion.show_sls(sls)[state_id]
    assert state_args(state)["name"] == path
    target = tmp_path / pathlib.PurePosixPath(path).name
    target.write_text(packaged)
    assert _apply_settings(minion, state, target)
    lines = target.read_text().splitlines()
    option = expected.split(" = ")[0]
    assert [line for line in lines if line.lstrip("#").startswith(option + " ")] == [expected]
    assert [line for line in lines if line != expected] == [
        line for line in packaged.splitlines() if not line.lstrip("#").startswith(option + " ")
    ]
    assert _apply_settings(minion, state, target) == {}, "a second apply changes nothing"


def test_settings_of_the_debian_map_stay_off_ubuntu(rendered):
    """Ubuntu runs neutron-server, no uwsgi file: Debian's setting is not there."""
    state_id = "openstack-neutron-server-config-file-keyvalue-neutron-api-uwsgi.ini"
    assert state_id in rendered["debian-12"]
    for platform in ("ubuntu-22.04", "ubuntu-24.04"):
        assert state_id not in rendered[platform]


def test_a_settings_change_restarts_the_services(rendered):
    """The services watch the config SLS, which holds the settings states."""
    states = rendered["debian-12"]
    watch = state_args(states["openstack-neutron-server-service-service-running-neutron-api"])["watch"]
    assert {"sls": "openstack.neutron.server.config"} in watch
    settings = states["openstack-neutron-server-config-file-keyvalue-neutron-api-uwsgi.ini"]
    assert settings["__sls__"] == "openstack.neutron.server.config"


def test_configuration_files_hide_their_diffs(rendered):
    """Files carry secrets: their diffs never reach the job output."""
    for platform_states in rendered.values():
        for state_id, args in by_function(platform_states, "file.managed").items():
            assert args.get("show_changes") is False, state_id


def test_node_values_come_from_the_nodes_entry(formula_minion):
    states = formula_minion("debian-12", minion_id="cmp02", roles=["compute"]).show_sls(
        "openstack.nova.compute", "openstack.neutron.compute"
    )
    assert "my_ip = 10.231.10.32" in _config(states, "openstack-nova-compute-config-file-managed-nova.conf")
    agent = _config(states, "openstack-neutron-compute-config-file-managed-linuxbridge_agent.ini")
    assert "local_ip = 10.231.20.32" in agent
    assert "physical_interface_mappings = provider:provider" in agent


def test_secrets_stay_out_of_command_lines(formula_minion):
    minion = formula_minion("debian-12", roles=["controller"])
    states = minion.show_sls(*stage_sls())
    commands = {**by_function(states, "cmd.run"), **by_function(states, "cmd.script")}
    assert commands
    for state_id, args in commands.items():
        for name, secret in minion.secrets.items():
            for value in secret if isinstance(secret, list) else [secret]:
                assert value not in str(args.get("name", "")), f"{state_id} puts secrets:{name} on a command line"
                assert value not in str(args.get("unless", "")), f"{state_id} puts secrets:{name} on a command line"


def test_versions_are_pinned_from_pillar(formula_minion):
    pin = "2:22.0.2-0+deb12u3"
    states = formula_minion("debian-12", extra={"keystone": {"version": pin}}).show_sls("openstack.keystone")
    pkgs = state_args(states["openstack-keystone-package-pkg-installed"])["pkgs"]
    assert {"keystone": pin} in pkgs and {"python3-keystone": pin} in pkgs
    assert "python3-openstackclient" in pkgs  # dependencies stay unpinned


def test_moving_a_pin_restarts_the_services(formula_minion):
    """A package upgrade (a release moving its pin) restarts the component's services."""
    states = formula_minion("debian-12").show_sls("openstack.nova.controller")
    for state_id in ("openstack-nova-controller-service-service-running-nova-conductor",
                     "openstack-nova-controller-service-service-running-nova-scheduler"):
        watch = state_args(states[state_id])["watch"]
        assert {"pkg": "openstack-nova-controller-package-pkg-installed"} in watch, watch


def test_roles_grain_selects_the_stages(formula_minion):
    minion = formula_minion("debian-12", minion_id="cmp01", roles=["compute"])
    retcode, top = minion.call("state.show_top")
    assert retcode == 0 and top == {"base": ["openstack.roles"]}
    states = minion.show_sls("openstack.roles")
    sls = {state["__sls__"] for state in states.values()}
    assert sls == {
        "openstack.repo",
        *(f"openstack.nova.compute.{part}" for part in ("package", "config", "service")),
        *(f"openstack.neutron.compute.{part}" for part in ("package", "config", "service")),
    }


def test_roles_packages_installs_only_the_packages_of_the_nodes_roles(formula_minion):
    compute = formula_minion("debian-12", minion_id="cmp01", roles=["compute"]).show_sls("openstack.roles.packages")
    assert {state["__sls__"] for state in compute.values()} == {
        "openstack.repo", "openstack.nova.compute.package", "openstack.neutron.compute.package"}
    both = formula_minion("debian-12", roles=["controller", "network"]).show_sls("openstack.roles.packages")
    installed = {name for args in by_function(both, "pkg.installed").values() for item in args["pkgs"]
                 for name in (item if isinstance(item, dict) else {item: None})}
    assert {"mariadb-server", "rabbitmq-server", "keystone", "nova-api", "neutron-l3-agent"} <= installed
    assert "nova-compute" not in installed
    assert not by_function(both, "file.managed") and not by_function(both, "service.running")


def test_an_unknown_role_fails_the_render(formula_minion):
    for sls in ("openstack.roles", "openstack.roles.packages"):
        retcode, errors = formula_minion("debian-12", roles=["computer"]).call("state.show_sls", sls)
        assert retcode != 0
        assert "unknown role(s) computer in the roles grain of ctl01" in errors[0].splitlines()[0], sls


def test_clean_undoes_each_component(formula_minion):
    cleans = ["openstack.infra.clean", "openstack.keystone.clean", "openstack.glance.clean",
              "openstack.placement.clean", "openstack.nova.controller.clean", "openstack.nova.compute.clean",
              "openstack.neutron.server.clean", "openstack.neutron.network.clean", "openstack.neutron.compute.clean"]
    states = formula_minion("debian-12", roles=["controller"]).show_sls(*cleans)
    removed = {name for args in by_function(states, "pkg.removed").values() for name in args["pkgs"]}
    assert {"keystone", "mariadb-server", "nova-compute", "neutron-l3-agent"} <= removed
    assert "keystone" in {args["name"] for args in by_function(states, "service.dead").values()}
    assert "/etc/keystone/keystone.conf" in {args["name"] for args in by_function(states, "file.absent").values()}


# ovs-vsctl for the bridge states, over a JSON file: the subcommands they use.
FAKE_OVS_VSCTL = r'''#!/usr/bin/env python3
import json, os, sys
path = os.environ["FAKE_OVS_DB"]
db = json.load(open(path)) if os.path.exists(path) else {}
args = [a for a in sys.argv[1:] if not a.startswith("--timeout=")]
may = "--may-exist" in args
args = [a for a in args if a not in ("--may-exist", "--if-exists")]
for command in " ".join(args).split(" -- "):
    word = command.split()
    if word[0] == "add-br":
        if word[1] in db and not may:
            sys.exit(f"ovs-vsctl: cannot create a bridge named {word[1]} because a bridge named {word[1]} already exists")
        db.setdefault(word[1], {"datapath_type": "", "ports": []})
    elif word[:2] == ["set", "bridge"]:
        key, value = word[3].split("=")
        db[word[2]][key] = value
    elif word[0] == "add-port":
        if word[2] not in db[word[1]]["ports"]:
            db[word[1]]["ports"].append(word[2])
    elif word[0] == "br-exists":
        sys.exit(0 if word[1] in db else 2)
    elif word[:2] == ["get", "bridge"]:
        value = db[word[2]][word[3]]
        print(value if value else '""')
    elif word[0] == "port-to-br":
        found = [name for name, bridge in db.items() if word[1] in bridge["ports"]]
        if not found:
            sys.exit(f"ovs-vsctl: no port named {word[1]}")
        print(found[0])
    else:
        sys.exit(f"fake ovs-vsctl: {command}")
json.dump(db, open(path, "w"))
'''


def test_the_bridge_state_makes_br_provider_once(formula_minion, tmp_path, monkeypatch):
    """Applied twice (through a fake ovs-vsctl): the first run makes the netdev bridge with the
    provider interface, the second changes nothing; a bridge of another datapath is set right."""
    fake = tmp_path / "bin" / "ovs-vsctl"
    fake.parent.mkdir()
    fake.write_text(FAKE_OVS_VSCTL)
    fake.chmod(0o755)
    db = tmp_path / "ovs.json"
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_OVS_DB", str(db))
    minion = formula_minion("debian-13", minion_id="net01", roles=["network"])
    args = state_args(minion.show_sls("openstack.neutron.network.config")[
        "openstack-neutron-network-config-cmd-run-br-provider"])
    provider = LAB_NODES["net01"]["provider_interface"]

    def apply():
        retcode, data = minion.call("state.single", "cmd.run", f"name={json.dumps(args['name'])}",
                                    f"unless={json.dumps(args['unless'])}")
        (result,) = data.values()
        assert retcode == 0 and result["result"] is True, result
        return result["changes"]

    assert apply()
    assert json.loads(db.read_text()) == {"br-provider": {"datapath_type": "netdev", "ports": [provider]}}
    assert apply() == {}, "a second apply changes nothing"
    db.write_text(json.dumps({"br-provider": {"datapath_type": "system", "ports": [provider]}}))
    assert apply()
    assert json.loads(db.read_text())["br-provider"]["datapath_type"] == "netdev"
