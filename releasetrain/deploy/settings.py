"""What ``deploy.region`` applies, where and how: ``DEFAULTS`` and the ``deploy`` pillar merged over it."""

import copy
import numbers
import os

import yaml

from releasetrain.deploy.probe import check_limit
from releasetrain.errors import ReleaseTrainError
from releasetrain.loader import tree_path

ROLES = ("controller", "network", "compute")
#: downgrade: upgrade's rolling plan applied with an older release of the same series (the pins
#: go back; apt downgrades); what ``on_failure: rollback`` runs, or an operator after release.rollback
MODES = ("bootstrap", "upgrade", "major", "downgrade")
ON_FAILURE = ("halt", "rollback")
CONTROLLER_STAGES = ("infra", "keystone", "glance_placement", "nova_control", "neutron_server")
STAGES = (*CONTROLLER_STAGES, "neutron_network", "compute", "cell_discovery")
#: The formula shipped with this package says which SLS each stage applies.
FORMULA_STAGES = os.path.join(tree_path("states"), "openstack", "stages.yaml")
#: ... and which packages each component installs (Debian's names; a pillar ``pkgs`` overrides).
FORMULA_DEFAULTS = os.path.join(tree_path("states"), "openstack", "parameters", "defaults.yaml")


def formula_packages(path=FORMULA_DEFAULTS):
    """component -> the packages of its ``pkgs`` in the formula's defaults (the ones a version pin pins)."""
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle)["values"]
    return {name: list(value["pkgs"]) for name, value in values.items() if isinstance(value, dict) and value.get("pkgs")}


def formula_stages(path=FORMULA_STAGES):
    """stage -> the SLS of the formula stages whose ``deploy_stage`` it is, in the order of ``path``."""
    with open(path, encoding="utf-8") as handle:
        formula = yaml.safe_load(handle)
    stages = {}
    for entry in formula["stages"]:
        stage = entry.get("deploy_stage")
        if stage not in STAGES:
            raise ReleaseTrainError(
                f"{path}: formula stage {entry.get('name')!r} has deploy_stage {stage!r}; "
                f"known: {', '.join(STAGES)}"
            )
        stages.setdefault(stage, []).append(entry["sls"])
    return stages


#: The one place that says what the release train applies, where and how.
#: Pillar ``deploy:`` overrides any key (dicts merge recursively).
DEFAULTS = {
    # role -> how to find its members; a region pillar may narrow these,
    # e.g. {"tgt": "G@roles:compute and G@region:north", "tgt_type": "compound"}
    "targets": {role: {"tgt": f"roles:{role}", "tgt_type": "grain"} for role in ROLES},
    # stage -> SLS names in the release's saltenv, from states/openstack/stages.yaml
    # (cell_discovery runs on the first controller)
    "stages": formula_stages(),
    "batch": "25%",  # compute batch size: a count ("5") or a share ("25%")
    "bootstrap_batch": "100%",  # ... in a bootstrap, which has no workload to guard: all at once
    # SLS a bootstrap applies on every node at once right after its precheck, e.g.
    # [openstack.roles.packages]: each node installs its roles' packages in parallel before the
    # ordered stages (which then find them installed); [] for none.  Off by default: every service
    # installed at once starts on its packages' defaults until its stage (bench/results/lab.md)
    "bootstrap_packages": [],
    # computes that go first, alone, in a batch of their own in an upgrade (a bootstrap has no
    # workload to guard): when the canary fails its gate, the run halts before any other compute
    # is touched (0: no canary batch)
    "canary": 1,
    "network_batch": 1,  # network nodes upgraded this many at a time
    "timeout": 120,  # seconds a step waits for a silent minion
    "gate_wait": 300,  # seconds a health gate keeps asking before it fails (services take time to come up)
    "gate_interval": 3,  # seconds between a failing health probe and the next ask: a short one ends a gate soon after the service is up
    # Shell commands run on the first controller; "{host}", "{release}",
    # "{env}", "{path}" are filled in.  An empty value skips the command.
    "openrc": "/root/admin-openrc",  # sourced before OpenStack CLI commands
    "commands": {
        "upgrade_checks": [
            "nova-status upgrade check",
            "placement-status upgrade check",
            "glance-status upgrade check",
            "cinder-status upgrade check",
            "neutron-status upgrade check",
        ],
        # A dump that stopped half way still makes a valid gzip: the backup counts only when the
        # file reads back to the end and ends with mariadb-dump's "-- Dump completed" line.
        "backup": "mkdir -p \"$(dirname {path})\" && "
        "mariadb-dump --all-databases --single-transaction --routines --events | gzip > {path}.part && "
        "zcat {path}.part | tail -n 1 | grep -q '^-- Dump completed' && mv {path}.part {path}",
        # exit 1 = some rows migrated, run again; 0 = done; anything else failed ({rounds}: major:online_migration_rounds)
        "online_data_migrations": "i=0; while :; do runuser -u nova -- nova-manage db online_data_migrations; rc=$?; "
        "if [ $rc -eq 0 ]; then exit 0; fi; "
        "if [ $rc -ne 1 ]; then echo \"nova-manage db online_data_migrations exited $rc\" >&2; exit $rc; fi; "
        "i=$((i+1)); if [ $i -ge {rounds} ]; then "
        "echo \"nova online data migrations still incomplete after $i rounds\" >&2; exit 1; fi; done",
        "compute_disable": "openstack compute service set --disable "
        "--disable-reason 'releasetrain {release}' {host} nova-compute",
        "compute_enable": "openstack compute service set --enable {host} nova-compute",
        # mode major: a host's agents of a retired type ({agent_type}) deleted once it runs the new ones
        "retire_agents": "openstack network agent list --host {host} --agent-type {agent_type} -f value -c ID "
        "| xargs -r -n1 openstack network agent delete",
        # the API probe's endpoints: the region's catalog, read on the first controller
        "catalog": "openstack endpoint list --interface public -f json",
        "smoke": [
            "openstack token issue -f value -c id",
            "openstack compute service list",
            "openstack network agent list",
        ],
    },
    # Every run but a bootstrap asks each API of the region's catalog once a second from the master
    # and records its outage windows (releasetrain/deploy/probe.py); null: no probe
    "probe": {"services": ["keystone", "glance", "placement", "nova", "neutron"], "interval": 1, "timeout": 2},
    # seconds an API may be down (a number for all, or service -> seconds): a longer outage halts
    # the run after the step it happened in; null: measured, not gated
    "max_api_outage": None,
    # when a step halts an upgrade: "halt" (stop there) or "rollback" (the environment goes back to
    # the release it served before, applied again in mode downgrade; never after mode major)
    "on_failure": "halt",
    "backup_path": "/var/backups/releasetrain/mysql-{env}-{release}-{date}.sql.gz",
    # Mode major, the offline upgrade to the next distribution (states/openstack/UPGRADE.md):
    "major": {
        # SLS of the formula per role, in the step that moves the role's nodes to the new distribution
        "distribution": {
            "controller": ["openstack.upgrade.rabbitmq", "openstack.upgrade.distribution", "openstack.upgrade.mariadb"],
            "network": ["openstack.upgrade.distribution"],
            "compute": ["openstack.upgrade.distribution"],
        },
        "stop": ["openstack.upgrade.stop"],  # on the controllers, before their distribution step
        # true: every node moves in one step while the control plane is stopped, each with its role's
        # SLS ("node_sls" reads them from pillar deploy:distribution_sls); the computes are disabled in
        # Nova before the stop. false: the controllers move to the new distribution, then (the control
        # plane up again) the network nodes, then the computes, each role in a step of its own: it
        # keeps their package upgrade out of the APIs' outage, where those nodes are slow to upgrade.
        # The two plans' lab times: states/openstack/UPGRADE.md ("Role by role").
        "together": True,
        "node_sls": "openstack.upgrade.node",
        # pillar of the controller and compute steps until every compute runs the new release: Nova's
        # conductor, API and nova-compute itself refuse to start while compute service records are
        # older than they support (the first upgraded compute sees the others' old records)
        "nova_workaround": {
            "openstack": {
                component: {
                    "config": {"/etc/nova/nova.conf": {"workarounds": {"disable_compute_service_check_for_ffu": True}}}
                }
                for component in ("nova_controller", "nova_compute")
            }
        },
        "online_migration_rounds": 20,
        # Neutron agent types the new release no longer runs (Epoxy dropped linuxbridge: Debian 13's
        # map runs Open vSwitch): deleted per host after its new agents are up (commands:retire_agents)
        "retire_agents": ["linux-bridge"],  # openstack network agent list --agent-type
    },
    # stage -> health probes run after it: "on" is a role, or "batch" for the
    # nodes the step just touched; "checks" are openstack_health.check kwargs.
    # "components" name parts of the formula's map (states/openstack/map.jinja):
    # each node checks the services its own map lists for them on its OS
    # (Debian's keystone is Ubuntu's apache2); "services" names services as-is.
    "health": {
        "infra": [{"on": "controller", "checks": {"components": ["mariadb", "rabbitmq", "memcached"]}}],
        "keystone": [
            {
                "on": "controller",
                "checks": {"endpoints": {"keystone": "http://127.0.0.1:5000/v3"}, "components": ["keystone"]},
            }
        ],
        "glance_placement": [
            {
                "on": "controller",
                "checks": {
                    "endpoints": {
                        "glance": "http://127.0.0.1:9292/",
                        "placement": "http://127.0.0.1:8778/",
                    },
                    "components": ["glance", "placement"],
                },
            }
        ],
        "nova_control": [
            {
                "on": "controller",
                "checks": {"endpoints": {"nova": "http://127.0.0.1:8774/"}, "components": ["nova_controller"]},
            }
        ],
        "neutron_server": [
            {
                "on": "controller",
                "checks": {"endpoints": {"neutron": "http://127.0.0.1:9696/"}, "components": ["neutron_server"]},
            }
        ],
        "neutron_network": [
            {"on": "batch", "checks": {"components": ["neutron_network"]}},
            {"on": "first_controller", "checks": {"agents": True}},
        ],
        "compute": [
            {"on": "batch", "checks": {"components": ["nova_compute", "neutron_compute"]}},
            {"on": "first_controller", "checks": {"agents": True}},
        ],
        "smoke": [
            {"on": "first_controller", "checks": {"agents": True}},
        ],
    },
}


def merge(base, override):
    """``base`` with ``override`` merged in; dicts merge recursively, the rest is replaced."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def resolve(pillar_deploy=None):
    """``DEFAULTS`` with the ``deploy`` pillar merged over it; a bad run setting raises one line naming its key."""
    merged = merge(DEFAULTS, pillar_deploy or {})
    for stage, sls in merged["stages"].items():
        if isinstance(sls, str):
            merged["stages"][stage] = [sls]
    check_run_settings(merged)
    return merged


def _seconds(value, key, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value or value < 0 \
            or (positive and value == 0):
        raise ReleaseTrainError(f"deploy:{key} must be a number of seconds{'' if positive else ', 0 or more'}, "
                                f"not {value!r}")
    return value


def check_run_settings(conf):
    """``on_failure``, ``max_api_outage`` and ``probe`` checked before any node is touched."""
    if conf.get("on_failure") not in ON_FAILURE:
        raise ReleaseTrainError(f"deploy:on_failure must be one of {', '.join(ON_FAILURE)}, not {conf.get('on_failure')!r}")
    check_limit(conf.get("max_api_outage"), key="deploy:max_api_outage")
    together = (conf.get("major") or {}).get("together")
    if not isinstance(together, bool):
        raise ReleaseTrainError(f"deploy:major:together must be true or false, not {together!r}")
    first = conf.get("bootstrap_packages")
    if not isinstance(first, list) or not all(isinstance(sls, str) and sls for sls in first):
        raise ReleaseTrainError(f"deploy:bootstrap_packages must be a list of SLS names, not {first!r}")
    probe = conf.get("probe")
    if probe in (None, False):
        return
    if not isinstance(probe, dict):
        raise ReleaseTrainError(f"deploy:probe must be a mapping (services, interval, timeout) or null, not {probe!r}")
    _seconds(probe.get("interval"), "probe:interval", positive=True)
    _seconds(probe.get("timeout"), "probe:timeout", positive=True)
    services = probe.get("services")
    if not isinstance(services, list) or not all(isinstance(name, str) and name for name in services):
        raise ReleaseTrainError(f"deploy:probe:services must be a list of service names, not {services!r}")
