"""Run one step of a plan through a ``call(targets, fun, args, kwargs)`` function
(``saltutil.cmd`` on the master) and say which node, stage and reason halted it."""

import shlex
import time

from releasetrain.deploy.settings import merge


class StepFailed(Exception):
    """A step halted the run; ``str()`` names the node, stage and reason."""

    def __init__(self, stage, node, reason, states=()):
        """``states``: the node's failed states as {"id", "comment"}, when Salt states failed."""
        self.stage, self.node, self.reason = stage, node, reason
        self.states = [dict(state) for state in states]
        super().__init__(f"stage {stage} failed on {node}: {reason}")

    def halted(self):
        """What a run's record keeps of it: stage, node, reason, and the failed states if any."""
        return {"stage": self.stage, "node": self.node, "reason": self.reason,
                **({"states": self.states} if self.states else {})}


def state_outcome(ret):
    """(changes, failures) of one minion's ``state.sls`` return.

    ``changes`` maps state ids to their (predicted) changes; ``failures`` lists
    "state id: comment" lines.  A render error (a list of strings) is a failure.
    """
    changes, failed = _outcome(ret)
    return changes, _lines(failed)


def _lines(failed):
    return [f"{state['id']}: {state['comment']}" if state["id"] else state["comment"] for state in failed]


def _outcome(ret):
    """(changes, failed states as {"id", "comment"}, in run order; a render error's lines have no id)."""
    if not isinstance(ret, dict):
        lines = ret if isinstance(ret, list) else [ret]
        return {}, [{"id": None, "comment": str(line).strip()} for line in lines]
    changes, failed = {}, []
    for key, state in sorted(ret.items(), key=lambda item: _run_num(item[1])):
        if not isinstance(state, dict):
            failed.append({"id": key, "comment": str(state)})
            continue
        name = state.get("__id__") or key
        if state.get("changes"):
            changes[name] = state["changes"]
        elif state.get("result") is None:
            changes[name] = {"would": state.get("comment", "")}
        if state.get("result") is False:
            failed.append({"id": name, "comment": str(state.get("comment", "")).strip()})
    return changes, failed


def _run_num(state):
    return state.get("__run_num__", 0) if isinstance(state, dict) else 0


def _returns(call_result, nodes):
    """minion -> (ret, retcode) from ``saltutil.cmd``; missing minions -> None."""
    out = {}
    for node in nodes:
        entry = (call_result or {}).get(node)
        out[node] = None if entry is None else (entry.get("ret"), entry.get("retcode", 0))
    return out


def with_openrc(step, text):
    """``text`` with the step's ``openrc`` sourced first when it runs the OpenStack CLI."""
    openrc = step.get("openrc")
    if openrc and "openstack " in text:
        return f"if [ -r {shlex.quote(openrc)} ]; then . {shlex.quote(openrc)}; fi; {text}"
    return text


def shell_command(text):
    """``cmd.run_all``'s keyword arguments for shell command ``text``.  As a keyword, never a
    positional argument: Salt reads a positional ``name=value...`` (``i=0; while ...``) as a keyword
    argument ``name`` and refuses the call."""
    return {"cmd": text, "python_shell": True}


def run_commands(step, entries, call, test):
    """Run shell ``entries`` (node, cmd, and "what" it checks) one by one; returns what ran, halts
    on a failure whose reason starts with the entry's "what" (e.g. "nova online data migrations")."""
    done = []
    for entry in entries:
        node, text = entry["node"], entry["cmd"]
        what = f"{entry['what']}: " if entry.get("what") else ""
        if test:
            done.append({"node": node, "cmd": text, "would": "run"})
            continue
        result = _returns(call([node], "cmd.run_all", [], shell_command(with_openrc(step, text))), [node])[node]
        if result is None:
            raise StepFailed(step["stage"], node, f"{what}no answer running {text!r}")
        ret, _ = result
        if not isinstance(ret, dict) or ret.get("retcode") != 0:
            # not a dict: Salt's refusal (its first line says why; the function's docstring follows)
            detail = ret.get("stderr") or ret.get("stdout") if isinstance(ret, dict) else str(ret).strip().split("\n")[0]
            code = ret.get("retcode") if isinstance(ret, dict) else "?"
            raise StepFailed(step["stage"], node, f"{what}{text!r} exited {code}: {str(detail).strip()[-300:]}")
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


def refresh_grains(step, call):
    """After a step that changed the nodes' distribution: each target's grains (``oscodename``,
    ``osfinger``) read again before the next step renders the formula for them.
    ``saltutil.refresh_pillar wait=True`` reloads the grains with the modules and returns when done."""
    if not step.get("refresh_grains") or not step["targets"]:
        return
    raw = call(step["targets"], "saltutil.refresh_pillar", [], {"wait": True, "timeout": 60})
    for node, outcome in _returns(raw, step["targets"]).items():
        if outcome is None or outcome[1] or outcome[0] is not True:
            reason = "no answer" if outcome is None else outcome[0]
            raise StepFailed(step["stage"], node, f"grains not refreshed after the distribution change: {reason}")


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
            halts.append((node, "no answer from the minion (is it up?)", []))
            continue
        changes, failed = _outcome(outcome[0])
        results[node] = changes
        if failed:
            halts.append((node, "; ".join(_lines(failed)), failed))
    if halts:
        node, reason, failed = halts[0]
        others = ", ".join(halt[0] for halt in halts[1:])
        raise StepFailed(step["stage"], node, reason + (f" (also failed: {others})" if others else ""), failed)
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
            if time.monotonic() + float(step["gate_interval"]) > deadline:
                waited = f" (still failing after {step.get('gate_wait', 0)} s)" if step.get("gate_wait") else ""
                raise StepFailed(step["stage"], problem[0], problem[1] + waited)
            time.sleep(float(step["gate_interval"]))
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
    if not test:
        refresh_grains(step, call)
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
            "would_change": bool(changes), "gate": gate}
