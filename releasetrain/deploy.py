"""Plan and run the deployment of a release to a region (``deploy.region``).

The orchestrate SLS only lists the steps of a plan in order; everything else
lives here so that it can be read and tested without a master:

* ``settings`` merges the ``deploy`` pillar over ``DEFAULTS``: which SLS each
  stage applies, how roles are targeted, batch sizes, the commands run on the
  controller and the health checks after each stage.
* ``build_plan`` turns settings, the resolved role members and the mode into
  an ordered list of steps (bootstrap or upgrade).
* ``run_step`` runs one step through a ``call(targets, fun, args, kwargs)``
  function (``saltutil.cmd`` on the master) and says which node, stage and
  reason halted it.
"""

import copy
import datetime
import math
import shlex
import time

from releasetrain.errors import ReleaseTrainError
from releasetrain.store import Store

ROLES = ("controller", "network", "compute")
MODES = ("bootstrap", "upgrade")

#: The one place that says what the release train applies, where and how.
#: Pillar ``deploy:`` overrides any key (dicts merge recursively).
DEFAULTS = {
    # role -> how to find its members; a region pillar may narrow these,
    # e.g. {"tgt": "G@roles:compute and G@region:north", "tgt_type": "compound"}
    "targets": {role: {"tgt": f"roles:{role}", "tgt_type": "grain"} for role in ROLES},
    # stage -> SLS names in the release's saltenv
    "stages": {
        "infra": ["openstack.infra"],
        "keystone": ["openstack.keystone"],
        "glance_placement": ["openstack.glance", "openstack.placement"],
        "nova_control": ["openstack.nova.controller"],
        "neutron_server": ["openstack.neutron.server"],
        "neutron_network": ["openstack.neutron.network"],
        "compute": ["openstack.nova.compute", "openstack.neutron.compute"],
        "cell_discovery": ["openstack.nova.discover"],  # on the first controller
    },
    "batch": "25%",  # compute batch size: a count ("5") or a share ("25%")
    "network_batch": 1,  # network nodes upgraded this many at a time
    "timeout": 120,  # seconds a step waits for a silent minion
    "gate_wait": 300,  # seconds a health gate keeps asking before it fails (services take time to come up)
    "gate_interval": 10,
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
        "backup": "mkdir -p \"$(dirname {path})\" && "
        "mysqldump --all-databases --single-transaction --routines --events | gzip > {path}",
        "compute_disable": "openstack compute service set --disable "
        "--disable-reason 'releasetrain {release}' {host} nova-compute",
        "compute_enable": "openstack compute service set --enable {host} nova-compute",
        "smoke": [
            "openstack token issue -f value -c id",
            "openstack compute service list",
            "openstack network agent list",
        ],
    },
    "backup_path": "/var/backups/releasetrain/mysql-{env}-{release}-{date}.sql.gz",
    # stage -> health probes run after it: "on" is a role, or "batch" for the
    # nodes the step just touched; "checks" are openstack_health.check kwargs.
    "health": {
        "infra": [
            {"on": "controller", "checks": {"services": ["mariadb", "rabbitmq-server", "memcached"]}}
        ],
        "keystone": [
            {
                "on": "controller",
                "checks": {"endpoints": {"keystone": "http://127.0.0.1:5000/v3"}, "services": ["keystone"]},
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
                    "services": ["glance-api", "placement-api"],
                },
            }
        ],
        "nova_control": [
            {
                "on": "controller",
                "checks": {
                    "endpoints": {"nova": "http://127.0.0.1:8774/"},
                    "services": ["nova-api", "nova-scheduler", "nova-conductor"],
                },
            }
        ],
        "neutron_server": [
            {
                "on": "controller",
                "checks": {
                    "endpoints": {"neutron": "http://127.0.0.1:9696/"},
                    "services": ["neutron-api", "neutron-rpc-server"],
                },
            }
        ],
        "neutron_network": [
            {
                "on": "batch",
                "checks": {
                    "services": [
                        "neutron-linuxbridge-agent",
                        "neutron-dhcp-agent",
                        "neutron-l3-agent",
                        "neutron-metadata-agent",
                    ]
                },
            },
            {"on": "first_controller", "checks": {"agents": True}},
        ],
        "compute": [
            {"on": "batch", "checks": {"services": ["libvirtd", "nova-compute", "neutron-linuxbridge-agent"]}},
            {"on": "first_controller", "checks": {"agents": True}},
        ],
        "smoke": [
            {"on": "first_controller", "checks": {"agents": True}},
        ],
    },
}

CONTROLLER_STAGES = ("infra", "keystone", "glance_placement", "nova_control", "neutron_server")


def merge(base, override):
    """``base`` with ``override`` merged in; dicts merge recursively, the rest is replaced."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def settings(pillar_deploy=None):
    """``DEFAULTS`` with the ``deploy`` pillar merged over it."""
    merged = merge(DEFAULTS, pillar_deploy or {})
    for stage, sls in merged["stages"].items():
        if isinstance(sls, str):
            merged["stages"][stage] = [sls]
    return merged


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
    conf = settings(pillar_deploy)
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


# --- running one step -------------------------------------------------------


class StepFailed(Exception):
    """A step halted the run; ``str()`` names the node, stage and reason."""

    def __init__(self, stage, node, reason):
        self.stage, self.node, self.reason = stage, node, reason
        super().__init__(f"stage {stage} failed on {node}: {reason}")


def state_outcome(ret):
    """(changes, failures) of one minion's ``state.sls`` return.

    ``changes`` maps state ids to their (predicted) changes; ``failures`` lists
    "state id: comment" lines.  A render error (a list of strings) is a failure.
    """
    if not isinstance(ret, dict):
        lines = ret if isinstance(ret, list) else [ret]
        return {}, [str(line).strip() for line in lines]
    changes, failures = {}, []
    for key, state in sorted(ret.items(), key=lambda item: _run_num(item[1])):
        if not isinstance(state, dict):
            failures.append(f"{key}: {state}")
            continue
        name = state.get("__id__") or key
        if state.get("changes"):
            changes[name] = state["changes"]
        elif state.get("result") is None:
            changes[name] = {"would": state.get("comment", "")}
        if state.get("result") is False:
            failures.append(f"{name}: {str(state.get('comment', '')).strip()}")
    return changes, failures


def _run_num(state):
    return state.get("__run_num__", 0) if isinstance(state, dict) else 0


def _returns(call_result, nodes):
    """minion -> (ret, retcode) from ``saltutil.cmd``; missing minions -> None."""
    out = {}
    for node in nodes:
        entry = (call_result or {}).get(node)
        out[node] = None if entry is None else (entry.get("ret"), entry.get("retcode", 0))
    return out


def _shell(step, text):
    openrc = step.get("openrc")
    if openrc and "openstack " in text:
        return f"if [ -r {shlex.quote(openrc)} ]; then . {shlex.quote(openrc)}; fi; {text}"
    return text


def run_commands(step, entries, call, test):
    """Run shell ``entries`` (node, cmd) one by one; returns what ran, halts on a failure."""
    done = []
    for entry in entries:
        node, text = entry["node"], entry["cmd"]
        if test:
            done.append({"node": node, "cmd": text, "would": "run"})
            continue
        result = _returns(call([node], "cmd.run_all", [_shell(step, text)], {"python_shell": True}), [node])[node]
        if result is None:
            raise StepFailed(step["stage"], node, f"no answer running {text!r}")
        ret, _ = result
        if not isinstance(ret, dict) or ret.get("retcode") != 0:
            detail = ret.get("stderr") or ret.get("stdout") if isinstance(ret, dict) else ret
            code = ret.get("retcode") if isinstance(ret, dict) else "?"
            raise StepFailed(step["stage"], node, f"{text!r} exited {code}: {str(detail).strip()[-300:]}")
        done.append({"node": node, "cmd": text, "stdout": ret.get("stdout", "")[-300:]})
    return done


def sync_modules(step, call):
    """``saltutil.sync_modules`` from the release's saltenv, so every node has ``openstack_health``."""
    if not step.get("sync"):
        return
    raw = call(step["sync"], "saltutil.sync_modules", [], {"saltenv": step["saltenv"]})
    for node, outcome in _returns(raw, step["sync"]).items():
        if outcome is None or outcome[1]:
            reason = "no answer" if outcome is None else outcome[0]
            raise StepFailed(step["stage"], node, f"saltutil.sync_modules saltenv={step['saltenv']} failed: {reason}")


def render_check(step, call):
    """Halt if any node's SLS does not render (e.g. a broken pillar) before anything changes."""
    for group in step.get("render") or []:
        pillar = merge(step["pillar"], {"deploy": {"stage": group["stage"]}})
        kwargs = {"saltenv": step["saltenv"], "pillar": pillar}
        raw = call(group["targets"], "state.show_sls", [",".join(group["sls"])], kwargs)
        for node, outcome in _returns(raw, group["targets"]).items():
            if outcome is None:
                raise StepFailed(step["stage"], node, "no answer from the minion (is it up?)")
            if not isinstance(outcome[0], dict):
                lines = outcome[0] if isinstance(outcome[0], list) else [outcome[0]]
                problem = "; ".join(str(line).strip() for line in lines)
                raise StepFailed(step["stage"], node, f"{group['stage']} SLS do not render: {problem[:600]}")


def apply_states(step, call, test):
    """``state.sls`` on all targets of the step at once; node -> changes."""
    if not step["sls"] or not step["targets"]:
        return {}
    kwargs = {"saltenv": step["saltenv"], "pillar": step["pillar"], "test": bool(test)}
    raw = call(step["targets"], "state.sls", [",".join(step["sls"])], kwargs)
    results, halts = {}, []
    for node, outcome in _returns(raw, step["targets"]).items():
        if outcome is None:
            halts.append((node, "no answer from the minion (is it up?)"))
            continue
        changes, failures = state_outcome(outcome[0])
        results[node] = changes
        if failures:
            halts.append((node, "; ".join(failures)))
    if halts:
        node, reason = halts[0]
        others = ", ".join(n for n, _ in halts[1:])
        raise StepFailed(step["stage"], node, reason + (f" (also failed: {others})" if others else ""))
    return results


def _probe(step, probe, call):
    """One round of a probe: (node -> checks, first problem as (node, reason) or None)."""
    report, problem = {}, None
    raw = call(probe["nodes"], "openstack_health.check", [], probe["checks"])
    for node, outcome in _returns(raw, probe["nodes"]).items():
        if outcome is None:
            problem = problem or (node, "health gate: no answer from the minion")
            continue
        ret = outcome[0]
        if not isinstance(ret, dict) or "healthy" not in ret:
            problem = problem or (node, f"health gate: openstack_health.check returned {ret!r}")
            continue
        report[node] = ret["checks"]
        if not ret["healthy"]:
            bad = "; ".join(f"{c['name']}: {c['detail']}" for c in ret["checks"] if not c["ok"])
            problem = problem or (node, f"health gate: {bad}")
    return report, problem


def health_gate(step, call):
    """Ask the step's probes until every node is healthy or ``gate_wait`` runs out; node -> checks."""
    report = {}
    deadline = time.monotonic() + float(step.get("gate_wait", 0))
    for probe in step["gate"]:
        while True:
            checks, problem = _probe(step, probe, call)
            if not problem:
                break
            if time.monotonic() + float(step.get("gate_interval", 10)) > deadline:
                waited = f" (still failing after {step.get('gate_wait', 0)} s)" if step.get("gate_wait") else ""
                raise StepFailed(step["stage"], problem[0], problem[1] + waited)
            time.sleep(float(step.get("gate_interval", 10)))
        for node, node_checks in checks.items():
            report.setdefault(node, []).extend(node_checks)
    return report


def run_step(step, call, test=False):
    """Run one plan step; returns {"changes": {node: ...}, "comment": ...}.

    Order: ``before`` commands (e.g. disable computes in Nova), the states on
    every target at once, the step's commands, the health gate, then ``after``
    commands (e.g. enable the computes again).  Raises ``StepFailed``.
    With ``test`` only ``state.sls test=True`` runs; commands and gates are listed.
    """
    started = time.monotonic()
    if not test:
        sync_modules(step, call)
    render_check(step, call)
    before = run_commands(step, step["before"], call, test)
    states_started = time.monotonic()
    node_changes = apply_states(step, call, test)
    states_seconds = time.monotonic() - states_started
    commands = run_commands(step, step["commands"], call, test)
    gate = {} if test else health_gate(step, call)
    after = run_commands(step, step["after"], call, test)
    changes = {node: states for node, states in node_changes.items() if states}
    nodes = ", ".join(step["targets"]) or (step["commands"][0]["node"] if step["commands"] else "-")
    verb = "would apply" if test else "applied"
    comment = f"stage {step['stage']} on {nodes}: {verb} {', '.join(step['sls']) or 'commands only'}"
    if changes:
        comment += f"; changes on {', '.join(sorted(changes))}"
    if gate:
        comment += "; health gate passed"
    comment += f"; {time.monotonic() - started:.2f} s, of which states {states_seconds:.2f} s"
    detail = {"nodes": changes}
    ran = [*before, *commands, *after]
    if ran:
        detail["commands"] = ran
    return {"changes": detail if (changes or (ran and not test)) else {}, "comment": comment,
            "would_change": bool(changes)}
