"""The offline upgrade's SLS (openstack.upgrade.*) rendered for Debian 12 by a real ``salt-call --local``,
the Nova workaround pillar as the major plan passes it, and the apt source switch on temporary files."""

import json

from releasetrain.deploy import settings
from tests.functional.formula.conftest import by_function, formula_minion  # noqa: F401  (fixture)

UPGRADE_SLS = ["openstack.upgrade.stop", "openstack.upgrade.rabbitmq", "openstack.upgrade.distribution",
               "openstack.upgrade.mariadb"]


def test_the_upgrade_sls_render_for_debian_12(formula_minion):  # noqa: F811
    states = formula_minion("debian-12").show_sls(*UPGRADE_SLS)
    stopped = {args["name"] for args in by_function(states, "service.dead").values()}
    assert stopped == {"keystone", "glance-api", "placement-api", "nova-api", "nova-api-metadata", "nova-conductor",
                       "nova-scheduler", "nova-novncproxy", "neutron-api", "neutron-rpc-server"}
    assert not stopped & {"mariadb", "rabbitmq-server", "memcached"}
    commands = by_function(states, "cmd.run")
    upgrade = commands["openstack-upgrade-distribution-cmd-run-full-upgrade"]
    assert "--force-confdef" in upgrade["name"] and "--force-confold" in upgrade["name"]
    assert upgrade["env"]["DEBIAN_FRONTEND"] == "noninteractive"
    aside = commands["openstack-upgrade-rabbitmq-cmd-run-move-database-aside"]
    assert "dest=/var/lib/rabbitmq/mnesia.before-" in aside["name"]
    assert aside["require_in"] == [{"cmd": "openstack-upgrade-distribution-cmd-run-full-upgrade"}]
    mariadb = commands["openstack-upgrade-mariadb-cmd-run-upgrade"]
    assert mariadb["onlyif"] == "mariadb-upgrade --check-if-upgrade-is-needed"


def _nova_conf(minion, part):
    state = minion.show_sls(f"openstack.nova.{part}.config")[f"openstack-nova-{part}-config-file-managed-nova.conf"]
    return next(item["contents"] for item in state["file"] if isinstance(item, dict) and "contents" in item)


def test_the_nova_workaround_pillar_lands_in_nova_conf_of_controllers_and_computes(formula_minion):  # noqa: F811
    """Nova's conductor and API, and nova-compute itself, refuse older computes' records without it."""
    workaround = settings.DEFAULTS["major"]["nova_workaround"]["openstack"]
    minion = formula_minion("debian-12", extra=workaround)
    plain = formula_minion("debian-12")
    for part in ("controller", "compute"):
        assert "[workarounds]\ndisable_compute_service_check_for_ffu = true\n" in _nova_conf(minion, part), part
        assert "workarounds" not in _nova_conf(plain, part), part


def test_the_distribution_sls_switches_every_source_naming_the_old_codename(formula_minion, tmp_path):  # noqa: F811
    sources = tmp_path / "apt"
    (sources / "sources.list.d").mkdir(parents=True)
    (sources / "sources.list").write_text(
        "deb http://deb.debian.org/debian bookworm main\n"
        "deb http://deb.debian.org/debian bookworm-updates main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n")
    (sources / "sources.list.d" / "debian.sources").write_text("Types: deb\nSuites: bookworm bookworm-updates\n")
    (sources / "sources.list.d" / "other.list").write_text("deb http://example.org/repo stable main\n")
    (sources / "sources.list.d" / "notes.txt").write_text("bookworm\n")
    apt = {"sources_list": str(sources / "sources.list"), "sources_dir": str(sources / "sources.list.d")}
    minion = formula_minion("debian-12", extra={"upgrade": {"apt": apt}})
    retcode, data = minion.call("state.sls", "openstack.upgrade.distribution", "test=True",
                                "pillar=" + json.dumps({"deploy": {"distribution": "trixie"}}))
    assert isinstance(data, dict), data
    replaced = {state["__id__"]: state for state in data.values() if state["__id__"].startswith(
        "openstack-upgrade-distribution-file-replace-")}
    assert set(replaced) == {"openstack-upgrade-distribution-file-replace-sources-list",
                             "openstack-upgrade-distribution-file-replace-debian-sources",
                             "openstack-upgrade-distribution-file-replace-other-list"}
    diff = replaced["openstack-upgrade-distribution-file-replace-sources-list"]["changes"]["diff"]
    for suite in ("trixie main", "trixie-updates main", "trixie-security main"):
        assert f"+deb " in diff and suite in diff
    assert "Suites: trixie trixie-updates" in replaced["openstack-upgrade-distribution-file-replace-debian-sources"][
        "changes"]["diff"]
    assert not replaced["openstack-upgrade-distribution-file-replace-other-list"]["changes"]
    assert (sources / "sources.list").read_text().count("bookworm") == 3  # test=True changed nothing
    commands = [state for state in data.values() if state["__id__"].endswith(("apt-update", "full-upgrade"))]
    assert len(commands) == 2 and all(state["result"] is None for state in commands)  # would run, did not


def test_the_node_sls_applies_the_distribution_sls_of_the_nodes_own_roles(formula_minion):  # noqa: F811
    """major:together: one step, every node, each with its roles' SLS (pillar deploy:distribution_sls)."""
    pillar = "pillar=" + json.dumps({"deploy": {"distribution": "trixie",
                                                "distribution_sls": settings.DEFAULTS["major"]["distribution"]}})
    ids = {}
    for node, roles in (("ctl01", ["controller"]), ("cmp01", ["compute"]), ("all01", ["compute", "controller"])):
        retcode, data = formula_minion("debian-12", minion_id=node, roles=roles).call(
            "state.show_sls", "openstack.upgrade.node", pillar)
        assert retcode == 0 and isinstance(data, dict), data
        ids[node] = {state["__sls__"] for state in data.values()}
    assert ids["ctl01"] == ids["all01"] == {
        "openstack.upgrade.rabbitmq", "openstack.upgrade.distribution", "openstack.upgrade.mariadb"}
    assert ids["cmp01"] == {"openstack.upgrade.distribution"}

    retcode, data = formula_minion("debian-12", minion_id="cmp02", roles=["compute"]).call(
        "state.show_sls", "openstack.upgrade.node",
        "pillar=" + json.dumps({"deploy": {"distribution_sls": {"controller": ["openstack.upgrade.mariadb"]}}}))
    assert retcode != 0 and any("deploy:distribution_sls names no SLS for the roles of cmp02 (compute)" in line
                                for line in data), data
    # applied by hand, without deploy.region's pillar: nothing to do
    retcode, data = formula_minion("debian-12", minion_id="cmp03", roles=["compute"]).call(
        "state.show_sls", "openstack.upgrade.node")
    assert retcode == 0 and list(data) == ["openstack-upgrade-node-test-nop"], data


def test_the_node_sls_quotes_every_name_the_pillar_gives(formula_minion):  # noqa: F811
    """An SLS name with YAML's special characters is one name (that does not exist), not more states."""
    odd = 'x: y\n- openstack.upgrade.stop\n"#'
    retcode, data = formula_minion("debian-12", minion_id="cmp04", roles=["compute"]).call(
        "state.show_sls", "openstack.upgrade.node", "pillar=" + json.dumps({"deploy": {"distribution_sls": {"compute": [odd]}}}))
    assert retcode != 0 and isinstance(data, list), data
    assert not any("openstack.upgrade.stop" in str(line) and "service" in str(line) for line in data), data
    assert any("x: y" in line for line in data), data
