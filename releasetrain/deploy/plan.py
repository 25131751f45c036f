"""Turn settings, the role members and a mode into the ordered steps of ``deploy.region``.

``plan_release`` checks the release against the store, pings the roles and asks the nodes
what they run (``guard``: no distribution or OpenStack major change outside mode major);
``build_plan`` is the pure part (bootstrap, upgrade or major steps).
"""

import datetime
import math
import re
import shlex

from releasetrain.deploy.settings import CONTROLLER_STAGES, MODES, ROLES, formula_packages, merge, resolve
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


def batches(nodes, spec, canary=0):
    """``nodes`` (sorted) cut into consecutive batches of ``batch_size(spec)`` (a share of all of them),
    after a first batch of ``canary`` nodes when that is set."""
    nodes = sorted(nodes)
    if not nodes:
        return []
    size = batch_size(spec, len(nodes))
    first, rest = ([nodes[:canary]], nodes[canary:]) if canary else ([], nodes)
    return first + [rest[start : start + size] for start in range(0, len(rest), size)]


def canary_size(value):
    """``deploy:canary``: how many computes go first, alone (0: no canary batch)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReleaseTrainError(f"deploy:canary must be a count of computes, 0 or more, not {value!r}")
    return value


def choose_mode(mode, recorded_release):
    """The mode asked for, or bootstrap when the region has no recorded release (upgrade when it
    has one; never major, the offline upgrade to a new distribution, unless asked for)."""
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

    def add(self, stage, targets, sls=(), pillar=None, before=(), commands=(), after=(), label=None, render=(), sync=(),
            gate=None, refresh_grains=False):
        """Append one step; its id says its position, stage and (if any) label.

        ``before``, ``commands`` and ``after`` are (node, cmd) or (node, cmd, what) pairs: ``what``
        names the check in a failure's reason. ``gate`` replaces the probes of ``stage``."""
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
                "before": [_entry(item) for item in before],
                "commands": [_entry(item) for item in commands],
                "after": [_entry(item) for item in after],
                "gate": self.probes(stage, targets) if gate is None else gate,
                "render": list(render),
                "sync": list(sync),
                "timeout": self.conf["timeout"],
                "gate_wait": self.conf["gate_wait"],
                "gate_interval": self.conf["gate_interval"],
                "openrc": self.conf.get("openrc") or "",
            }
        )
        if refresh_grains:
            self.steps[-1]["refresh_grains"] = True

    def on_controller(self, *names, what=None, **fields):
        return [
            (self.first_controller, cmd, what or name.replace("_", " "))
            for name in names
            for cmd in self.command(name, **fields)
        ]

    def joined(self, per_host):
        """One ``a && b && ...`` command per batch: one round trip to the controller, not one per host."""
        commands = [item[1] for pairs in per_host for item in pairs]
        what = next((item[2] for pairs in per_host for item in pairs if len(item) > 2), None)
        return [(self.first_controller, " && ".join(commands), what)] if commands else []

    def upgrade_checks(self):
        """The upgrade-check commands the controller has; warnings (exit 1) pass, failures (2) halt."""
        checks = []
        for node, text, _ in self.on_controller("upgrade_checks"):
            tool = shlex.quote(text.split()[0])
            checks.append(
                (
                    node,
                    f"if command -v {tool} >/dev/null 2>&1; then {text}; rc=$?; [ $rc -le 1 ]; "
                    f"else echo {tool} not installed, skipped; fi",
                    " ".join(text.split()[:3]),
                )
            )
        return checks

    def retire(self, group):
        """Mode major: the Neutron agents of the types the new release retired (``major:retire_agents``,
        linuxbridge: Epoxy runs Open vSwitch) deleted for ``group``'s hosts once their new agents run,
        before the gate asks that every agent of the host be alive."""
        return self.joined([self.on_controller("retire_agents", host=host, agent_type=kind, what="retire old agents")
                            for host in group for kind in self.conf["major"].get("retire_agents") or []])

    def compute_batches(self, maintenance, disable=True, commands=None, pillar=None):
        """Computes in batches; with ``maintenance`` each is enabled in Nova after, and (with
        ``disable``) disabled before; ``commands(group)`` runs after each batch's states."""
        # a canary guards running workloads: a bootstrap has none, and its computes install in parallel
        canary = canary_size(self.conf.get("canary", 0)) if maintenance else 0
        groups = batches(self.members["compute"], self.conf["batch" if maintenance else "bootstrap_batch"], canary)
        labels = (["canary"] if canary else []) + [f"batch{n}of{len(groups) - bool(canary)}"
                                                   for n in range(1, len(groups) + 1 - bool(canary))]
        for label, group in zip(labels, groups):
            hooks = {}
            if maintenance:
                hooks = {
                    "before": self.joined([self.on_controller("compute_disable", host=host) for host in group])
                    if disable else [],
                    "after": self.joined([self.on_controller("compute_enable", host=host) for host in group]),
                }
            self.add(
                "compute",
                group,
                self.conf["stages"]["compute"],
                label=label,
                commands=commands(group) if commands else (),
                pillar=pillar,
                **hooks,
            )

    def finish(self, before_smoke=None):
        """Cell host discovery on the first controller, then smoke checks on the whole region."""
        if self.members["compute"]:
            self.add("cell_discovery", [self.first_controller], self.conf["stages"].get("cell_discovery") or [])
        if before_smoke:
            before_smoke()
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
        if self.conf["bootstrap_packages"]:
            self.add("packages", self.everyone(), self.conf["bootstrap_packages"])
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

    def run(self, mode, date, runs_dir, previous, pillar_deploy):
        """What ``deploy.begin`` opens: the run's id, where its record goes, the API probe (every
        mode but bootstrap, which has no catalog yet), the outage limit, ``on_failure``, and the
        nodes and packages whose versions the record notes before and after."""
        probe = self.conf.get("probe")
        catalog = self.command("catalog")
        run = {
            "id": f"{self.env}-{self.release}-{date}",
            "release": self.release,
            "env": self.env,
            "mode": mode,
            "previous": previous,
            "directory": runs_dir,
            "probe": None,
            "max_api_outage": self.conf.get("max_api_outage"),
            "on_failure": self.conf["on_failure"],
            "nodes": self.everyone(),
            "packages": sorted({name for names in formula_packages().values() for name in names}),
            "settings": pillar_deploy or {},
        }
        if probe and catalog and mode != "bootstrap":
            run["probe"] = {"node": self.first_controller, "command": catalog[0], "openrc": self.conf.get("openrc") or "",
                            "services": list(probe["services"]), "interval": probe["interval"],
                            "timeout": probe["timeout"]}
        return run

    def controller_sls(self):
        return [sls for stage in CONTROLLER_STAGES for sls in self.conf["stages"][stage]]

    def probes_on(self, stage, nodes):
        """The probes of ``stage`` with its controller-wide ones asked of ``nodes`` only (a controller
        not upgraded yet has its services stopped)."""
        return [
            {**probe, "nodes": [node for node in probe["nodes"] if node in nodes or node not in self.members["controller"]]}
            for probe in self.probes(stage, nodes)
        ]

    def major(self, date, distribution, moved=()):
        """The offline upgrade to ``distribution``: pre-checks, the control plane stopped, each role's
        nodes moved to the new distribution, then the stages in dependency order (migrations on the
        first controller), network nodes, computes, the Nova FFU workaround off, smoke.  With
        ``major:together`` every node moves in one step after the stop, instead of each role's nodes
        just before their stages.

        Resumed after a halt, with the controllers ``moved`` to ``distribution`` already, the old
        release's checks (upgrade checks, online data migrations, the backup) are left out: that
        release no longer runs, its checks were passed and its backup taken by the halted run, and
        the new release's tools would judge a schema its own migrations left half done."""
        if not distribution:
            raise ReleaseTrainError(
                "mode major needs the release's target distribution (pillar openstack:distribution, e.g. trixie)"
            )
        stages = self.conf["stages"]
        major = self.conf["major"]
        controllers = self.members["controller"]
        target = {"deploy": {"distribution": distribution}}
        workaround = major.get("nova_workaround") or {}
        path = self.conf["backup_path"].format(env=self.env, release=self.release, date=date)
        render = self.render_checks() + [
            {"stage": f"distribution-{role}", "targets": self.members[role],
             "sls": (major["stop"] if role == "controller" else []) + list(major["distribution"][role])}
            for role in ROLES if self.members[role] and major["distribution"].get(role)
        ]
        resumed = set(controllers) <= set(moved)
        old_release_checks = [] if resumed else (
            self.upgrade_checks()
            + self.on_controller("online_data_migrations", what="nova online data migrations",
                                 rounds=major["online_migration_rounds"])
            + self.on_controller("backup", path=path))
        together = major["together"]
        # together: the computes are disabled while Nova's API still answers (a resumed run's stopped
        # control plane cannot; its batches disable each one instead)
        disable = self.joined([self.on_controller("compute_disable", host=host) for host in self.members["compute"]])
        self.add("precheck", [], pillar=target, commands=old_release_checks, render=render, sync=self.everyone())
        self.add("stop", controllers, major["stop"], pillar=target, gate=[],
                 before=disable if together and not resumed else ())
        if together:
            self.add("distribution", self.everyone(), [major["node_sls"]], label="all", gate=[], refresh_grains=True,
                     pillar=merge(target, {"deploy": {"distribution_sls": major["distribution"]}}))
        else:
            self.add("distribution", controllers, major["distribution"]["controller"], pillar=target,
                     label="controller", gate=[], refresh_grains=True)
        first = [self.first_controller]
        for stage in CONTROLLER_STAGES:
            after = ()
            if stage == "nova_control":
                after = self.on_controller("online_data_migrations", what="nova online data migrations",
                                           rounds=major["online_migration_rounds"])
            self.add(stage, first, stages[stage], pillar=merge({"deploy": {"db_sync": True}}, workaround),
                     after=after, gate=self.probes_on(stage, first))
        for node in controllers[1:]:
            self.add("controller", [node], self.controller_sls(),
                     pillar=merge({"deploy": {"db_sync": False}}, workaround), label=node)
        if self.members["network"]:
            if not together:
                self.add("distribution", self.members["network"], major["distribution"]["network"], pillar=target,
                         label="network", gate=[], refresh_grains=True)
            network_groups = batches(self.members["network"], self.conf["network_batch"])
            for number, group in enumerate(network_groups, start=1):
                self.add("neutron_network", group, stages["neutron_network"],
                         label=f"batch{number}of{len(network_groups)}", commands=self.retire(group))
        if self.members["compute"]:
            if not together:
                self.add("distribution", self.members["compute"], major["distribution"]["compute"], pillar=target,
                         before=disable, label="compute", gate=[], refresh_grains=True)
            self.compute_batches(maintenance=True, disable=together and resumed, commands=self.retire,
                                 pillar=workaround)

        def workaround_off():
            # nova_control again on every controller and the compute stage on every compute, without the
            # workaround: nova.conf loses it, Nova restarts, the gates check it
            self.add("nova_control", controllers, stages["nova_control"], label="workaround-off")
            if self.members["compute"]:
                self.add("compute", self.members["compute"], stages["compute"], label="workaround-off")

        self.finish(before_smoke=workaround_off)

    def _controller_probes(self):
        """After upgrading one controller: every controller-stage probe, on that node."""
        probes = []
        for stage in CONTROLLER_STAGES:
            for probe in self.conf["health"].get(stage) or []:
                if probe.get("on") in ("controller", "batch"):
                    probes.append({"on": "batch", "checks": probe.get("checks") or {}})
        return probes


def _entry(item):
    node, cmd, *what = item
    entry = {"node": node, "cmd": cmd}
    if what and what[0]:
        entry["what"] = what[0]
    return entry


def upstream_major(version):
    """The upstream major of a Debian version: ``2:26.2.1-1`` -> 26, ``11.8.1-5`` -> 11; None for none."""
    text = str(version or "").strip()
    if not text:
        return None
    text = text.split(":", 1)[1] if re.match(r"^\d+:", text) else text
    match = re.match(r"(\d+)", text)
    return int(match.group(1)) if match else None


def major_changes(pins, installed, packages):
    """(package, installed, pinned) for every installed package whose pin changes its upstream major.

    ``pins``: component -> version (``openstack:<component>:version``); ``installed``: package ->
    installed version ('' or None when not installed); ``packages``: component -> its packages."""
    changes = []
    for component, pinned in sorted((pins or {}).items()):
        want = upstream_major(pinned)
        if want is None:
            continue
        for package in packages.get(component) or []:
            have = upstream_major((installed or {}).get(package))
            if have is not None and have != want:
                changes.append((package, installed[package], str(pinned)))
    return changes


def guard(mode, facts, packages):
    """The target distribution of the release; refuses, before any node is touched, a release
    that moves the nodes to another distribution or OpenStack major version unless ``mode`` is major.

    ``facts``: minion -> {"oscodename", "distribution" (pillar openstack:distribution, None = the
    node's own), "pins" (component -> version), "installed" (package -> version), optionally
    "packages" (component -> packages, where the pillar overrides ``packages``)}."""
    targets = {minion: fact.get("distribution") or None for minion, fact in facts.items()}
    wanted = sorted({target for target in targets.values() if target})
    if len(wanted) > 1:
        raise ReleaseTrainError(
            f"the nodes' pillar openstack:distribution differs ({', '.join(wanted)}); one release runs on one distribution"
        )
    target = wanted[0] if wanted else None
    if mode == "major":
        if not target:
            raise ReleaseTrainError(
                "mode major moves the region to the release's distribution, but no node has pillar "
                "openstack:distribution (e.g. trixie)"
            )
        return target
    moving = {}
    for minion, fact in sorted(facts.items()):
        have = fact.get("oscodename")
        if targets[minion] and have and have != targets[minion]:
            moving.setdefault(have, []).append(minion)
    if moving:
        nodes = "; ".join(f"{', '.join(minions)} on {have}" for have, minions in sorted(moving.items()))
        raise ReleaseTrainError(
            f"the release runs on {target} but {nodes}: mode {mode} does not change distributions; "
            f"use mode=major (the offline upgrade, states/openstack/UPGRADE.md)"
        )
    problems = []
    for minion, fact in sorted(facts.items()):
        for package, have, pinned in major_changes(fact.get("pins"), fact.get("installed"),
                                                   {**packages, **(fact.get("packages") or {})}):
            problems.append(f"{minion}: {package} {have} -> {pinned}")
    if problems:
        raise ReleaseTrainError(
            f"the release's version pins change the OpenStack major version of installed packages "
            f"({'; '.join(problems)}); "
            + ("a downgrade cannot go back across a major (its database schemas changed): restore the backup"
               if mode == "downgrade" else f"mode {mode} does not, use mode=major")
        )
    return target


def plan_release(config, release, env, mode, pillar_deploy, date, ping, inspect=None):
    """The plan for ``release`` in ``env``: it must be what ``env`` serves; ``mode`` is chosen by
    :func:`choose_mode` from the environment's history; every role's members answer ``ping``.

    ``inspect(minions, packages)`` (packages: component -> its packages) tells, per minion, what
    :func:`guard` checks: its codename, the release's distribution, pins and installed versions."""
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
    mode = choose_mode(mode, recorded)
    distribution, moved = None, ()
    if inspect is not None:
        minions = sorted({minion for nodes in members.values() for minion in nodes})
        packages = formula_packages()
        facts = inspect(minions, packages)
        distribution = guard(mode, facts, packages)
        moved = sorted(minion for minion, fact in facts.items() if distribution and fact.get("oscodename") == distribution)
    return build_plan(conf, members, release, env, mode, date=date, distribution=distribution,
                      runs_dir=store.runs_dir, previous=store.previous(env), pillar_deploy=pillar_deploy,
                      moved=moved)


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


def build_plan(conf, members, release, env, mode, date=None, distribution=None, runs_dir=None, previous=None,
               pillar_deploy=None, moved=()):
    """The ordered steps deploying ``release`` from saltenv ``env`` in ``mode``, and the ``run``
    the orchestration records them in (:func:`_Planner.run`).

    ``members`` maps each role to the minion ids that hold it; ``distribution`` is the codename
    mode major moves the nodes to; ``runs_dir`` keeps the run's record and report; ``previous`` is
    the release ``env`` served before (what ``on_failure: rollback`` goes back to); ``moved``: the
    minions already on ``distribution`` (a major run resumed after a halt).
    """
    if not release or not env:
        raise ReleaseTrainError("deploy.region needs pillar release=ID and env=ENV")
    for stage in (*CONTROLLER_STAGES, "neutron_network", "compute"):
        if stage not in conf["stages"]:
            raise ReleaseTrainError(f"deploy:stages has no SLS list for stage {stage!r}")
    planner = _Planner(conf, members, release, env)
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if mode == "bootstrap":
        planner.bootstrap()
    elif mode in ("upgrade", "downgrade"):
        planner.upgrade(date)
    elif mode == "major":
        planner.major(date, distribution, moved)
    else:
        raise ReleaseTrainError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    result = {"release": release, "env": env, "mode": mode, "members": planner.members, "steps": planner.steps,
              "run": planner.run(mode, date, runs_dir, previous, pillar_deploy)}
    if mode == "major":
        result["distribution"] = distribution
    return result
