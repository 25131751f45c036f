"""Turn settings, the role members and a mode into the ordered steps of ``deploy.region``.

``plan_release`` checks the release against the store and pings the roles;
``build_plan`` is the pure part (bootstrap or upgrade steps).
"""

import datetime
import math
import shlex

from releasetrain.deploy.settings import CONTROLLER_STAGES, MODES, ROLES, merge, resolve
from releasetrain.errors import ReleaseTrainError
from releasetrain.release.store import Store


def batch_size(spec, total):
    """Nodes per batch for ``spec`` ("25%", "3" or 3) over ``total`` nodes (at least 1)."""
    text = str(spec).strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 < share <= 100:
                raise ValueError
            return max(1, math.ceil(total * share / 100))
        size = int(text)
        if size < 1:
            raise ValueError
        return size
    except ValueError:
        raise ReleaseTrainError(
            f"deploy:batch must be a positive count or a share such as '25%', not {spec!r}"
        ) from None


def batches(nodes, spec):
    """``nodes`` (sorted) cut into consecutive batches of ``batch_size(spec)``."""
    nodes = sorted(nodes)
    if not nodes:
        return []
    size = batch_size(spec, len(nodes))
    return [nodes[start : start + size] for start in range(0, len(nodes), size)]


def choose_mode(mode, recorded_release):
    """The mode asked for, or bootstrap when the region has no recorded release."""
    if mode:
        if mode not in MODES:
            raise ReleaseTrainError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        return mode
    return "upgrade" if recorded_release else "bootstrap"


class _Planner:
    """Builds the ordered steps of one run; one instance per plan."""

    def __init__(self, conf, members, release, env):
        self.conf = conf
        self.members = {role: sorted(members.get(role) or []) for role in ROLES}
        self.release = release
        self.env = env
        self.steps = []
        if not self.members["controller"]:
            raise ReleaseTrainError(
                "no controller answered for deploy:targets:controller "
                f"({conf['targets']['controller']['tgt']}); check the roles grains and that the minions are up"
            )
        self.first_controller = self.members["controller"][0]

    def command(self, name, **fields):
        """The configured command(s) ``name`` with fields filled in, as a list."""
        template = self.conf["commands"].get(name) or []
        templates = [template] if isinstance(template, str) else list(template)
        values = {"release": self.release, "env": self.env, **fields}
        quoted = {key: shlex.quote(str(value)) for key, value in values.items()}
        return [text.format(**quoted) for text in templates]

    def probes(self, stage, batch):
        """The health probes after ``stage``, with their node lists resolved."""
        configured = self.conf["health"].get(stage)
        if configured is None and stage == "controller":
            configured = self._controller_probes()
        resolved = []
        for probe in configured or []:
            where = probe.get("on", "batch")
            if where == "batch":
                nodes = list(batch)
            elif where == "first_controller":
                nodes = [self.first_controller]
            else:
                nodes = list(self.members.get(where) or [])
            checks = dict(probe.get("checks") or {})
            if checks.get("agents") is True:
                # network nodes run only Neutron agents; a compute runs nova-compute and a Neutron agent
                kinds = {"neutron_network": ["neutron"], "compute": ["nova", "neutron"]}
                hosts = list(batch) if stage in kinds else []  # smoke: every agent everywhere
                checks["agents"] = {"hosts": hosts, "kinds": kinds.get(stage, ["nova", "neutron"])}
            if "agents" in checks:
                checks.setdefault("openrc", self.conf.get("openrc") or "")
            if "components" in checks:
                checks.setdefault("saltenv", self.env)  # the node reads its services from this release's formula
            if nodes and checks:
                resolved.append({"nodes": nodes, "checks": checks})
        return resolved

    def add(self, stage, targets, sls=(), pillar=None, before=(), commands=(), after=(), label=None, render=(), sync=()):
        """Append one step; its id says its position, stage and (if any) label."""
        number = len(self.steps) + 1
        step_id = f"{number:02d}-{stage}" + (f"-{label}" if label else "")
        self.steps.append(
            {
                "id": step_id,
                "stage": stage,
                "targets": list(targets),
                "sls": list(sls),
                "saltenv": self.env,
                "pillar": merge({"deploy": {"release": self.release, "env": self.env, "stage": stage}}, pillar),
                "before": [{"node": node, "cmd": cmd} for node, cmd in before],
                "commands": [{"node": node, "cmd": cmd} for node, cmd in commands],
                "after": [{"node": node, "cmd": cmd} for node, cmd in after],
                "gate": self.probes(stage, targets),
                "render": list(render),
                "sync": list(sync),
                "timeout": self.conf["timeout"],
                "gate_wait": self.conf["gate_wait"],
                "gate_interval": self.conf["gate_interval"],
                "openrc": self.conf.get("openrc") or "",
            }
        )

    def on_controller(self, *names, **fields):
        return [(self.first_controller, cmd) for name in names for cmd in self.command(name, **fields)]

    def joined(self, per_host):
        """One ``a && b && ...`` command per batch: one round trip to the controller, not one per host."""
        commands = [text for pairs in per_host for _, text in pairs]
        return [(self.first_controller, " && ".join(commands))] if commands else []

    def upgrade_checks(self):
        """The upgrade-check commands the controller has; warnings (exit 1) pass, failures (2) halt."""
        checks = []
        for node, text in self.on_controller("upgrade_checks"):
            tool = shlex.quote(text.split()[0])
            checks.append(
                (
                    node,
                    f"if command -v {tool} >/dev/null 2>&1; then {text}; rc=$?; [ $rc -le 1 ]; "
                    f"else echo {tool} not installed, skipped; fi",
                )
            )
        return checks

    def compute_batches(self, maintenance):
        """Computes in batches; with ``maintenance`` each is disabled in Nova before and enabled after."""
        groups = batches(self.members["compute"], self.conf["batch"])
        for number, group in enumerate(groups, start=1):
            hooks = {}
            if maintenance:
                hooks = {
                    "before": self.joined([self.on_controller("compute_disable", host=host) for host in group]),
                    "after": self.joined([self.on_controller("compute_enable", host=host) for host in group]),
                }
            self.add(
                "compute",
                group,
                self.conf["stages"]["compute"],
                label=f"batch{number}of{len(groups)}",
                **hooks,
            )

    def finish(self):
        """Cell host discovery on the first controller, then smoke checks on the whole region."""
        if self.members["compute"]:
            self.add("cell_discovery", [self.first_controller], self.conf["stages"].get("cell_discovery") or [])
        self.add("smoke", [], commands=self.on_controller("smoke"))

    def everyone(self):
        return sorted({node for nodes in self.members.values() for node in nodes})

    def render_checks(self):
        """Every role's SLS rendered on its nodes (``state.show_sls``) before anything changes."""
        stages = self.conf["stages"]
        groups = [
            ("controller", self.members["controller"], [sls for stage in CONTROLLER_STAGES for sls in stages[stage]]),
            ("neutron_network", self.members["network"], stages["neutron_network"]),
            ("compute", self.members["compute"], stages["compute"]),
        ]
        return [{"stage": stage, "targets": nodes, "sls": sls} for stage, nodes, sls in groups if nodes and sls]

    def bootstrap(self):
        controllers = self.members["controller"]
        stages = self.conf["stages"]
        self.add("precheck", [], render=self.render_checks(), sync=self.everyone())
        for stage in CONTROLLER_STAGES:
            self.add(stage, controllers, stages[stage])
        if self.members["network"]:
            self.add("neutron_network", self.members["network"], stages["neutron_network"])
        self.compute_batches(maintenance=False)
        self.finish()

    def upgrade(self, date):
        stages = self.conf["stages"]
        path = self.conf["backup_path"].format(env=self.env, release=self.release, date=date)
        self.add(
            "precheck",
            [],
            commands=self.upgrade_checks() + self.on_controller("backup", path=path),
            render=self.render_checks(),
            sync=self.everyone(),
        )
        controller_sls = [sls for stage in CONTROLLER_STAGES for sls in stages[stage]]
        for number, node in enumerate(self.members["controller"]):
            self.add(
                "controller",
                [node],
                controller_sls,
                pillar={"deploy": {"db_sync": number == 0}},
                label=node,
            )
        network_groups = batches(self.members["network"], self.conf["network_batch"])
        for number, group in enumerate(network_groups, start=1):
            self.add("neutron_network", group, stages["neutron_network"], label=f"batch{number}of{len(network_groups)}")
        self.compute_batches(maintenance=True)
        self.finish()

    def _controller_probes(self):
        """After upgrading one controller: every controller-stage probe, on that node."""
        probes = []
        for stage in CONTROLLER_STAGES:
            for probe in self.conf["health"].get(stage) or []:
                if probe.get("on") in ("controller", "batch"):
                    probes.append({"on": "batch", "checks": probe.get("checks") or {}})
        return probes


def plan_release(config, release, env, mode, pillar_deploy, date, ping):
    """The plan for ``release`` in ``env``: it must be what ``env`` serves; ``mode`` is chosen by
    :func:`choose_mode` from the environment's history; every role's members answer ``ping``."""
    config.check_env(env)
    store = Store(config)
    serving = store.current(env)
    if serving != release:
        raise ReleaseTrainError(
            f"release {release!r} is not published to {env!r} (it serves {serving!r}); "
            f"run: salt-run release.publish {release} env={env}"
        )
    recorded = any(record.get("action") == "verify" for record in store.history(env))
    conf = resolve(pillar_deploy)
    members = role_members(conf["targets"], ping, timeout=conf.get("ping_timeout", 5))
    return build_plan(conf, members, release, env, choose_mode(mode, recorded), date=date)


def role_members(targets, ping, timeout):
    """role -> minion ids of that role's target, where ``ping(target, tgt_type, timeout)`` gives the
    minions that answered and those the master knows for the target: every known one must answer."""
    members = {}
    for role, target in targets.items():
        answered, expected = ping(target["tgt"], target.get("tgt_type", "glob"), timeout)
        members[role] = sorted(answered)
        silent = sorted(set(expected) - set(members[role]))
        if silent:
            raise ReleaseTrainError(
                f"{', '.join(silent)} ({role}, {target['tgt']}) did not answer test.ping; "
                f"bring them up, or narrow deploy:targets:{role} to leave them out"
            )
    return members


def build_plan(conf, members, release, env, mode, date=None):
    """The ordered steps deploying ``release`` from saltenv ``env`` in ``mode``.

    ``members`` maps each role to the minion ids that hold it.
    """
    if not release or not env:
        raise ReleaseTrainError("deploy.region needs pillar release=ID and env=ENV")
    for stage in (*CONTROLLER_STAGES, "neutron_network", "compute"):
        if stage not in conf["stages"]:
            raise ReleaseTrainError(f"deploy:stages has no SLS list for stage {stage!r}")
    planner = _Planner(conf, members, release, env)
    if mode == "bootstrap":
        planner.bootstrap()
    elif mode == "upgrade":
        planner.upgrade(date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    else:
        raise ReleaseTrainError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return {"release": release, "env": env, "mode": mode, "members": planner.members, "steps": planner.steps}
