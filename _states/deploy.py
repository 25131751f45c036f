"""Run one step of a ``deploy.plan`` from an orchestrate SLS (``deploy.region``).

Each step fires two events on the master bus (the orchestration runs in the
master's context, ``salt-run state.orchestrate``; with no master running they
are skipped, silently):

``releasetrain/deploy/step/start``
    ``{"id", "name", "stage", "targets", "release", "env"}`` as the step starts;
``releasetrain/deploy/step/done``
    the same plus ``result`` (True, False, or None for a dry run that would
    change something), ``seconds`` and ``comment`` (the state comment's first
    line, e.g. ``HALTED: stage compute failed on cmp02: ...``) as it ends,
    also when it fails or raises.

``./run demo`` (:mod:`releasetrain.lab.demo`) shows the region's progress from them.

``deploy.begin`` opens the run's record (:mod:`releasetrain.deploy.record`) and starts the API
probe, each ``deploy.step`` adds its step (and halts when an API was down longer than
``max_api_outage``), and ``deploy.finish`` closes it; a step that halts closes it itself, and
rolls the environment back when the run says ``on_failure: rollback``.
"""

import time

from releasetrain import saltglue
from releasetrain.deploy import record as deploy_record
from releasetrain.deploy import rollback as deploy_rollback
from releasetrain.deploy import run as deploy_run
from releasetrain.errors import ReleaseTrainError
from releasetrain.release.store import Store

EVENT_PREFIX = "releasetrain/deploy/step"


def _call(timeout):
    def call(targets, fun, args, kwargs):
        return __salt__["saltutil.cmd"](
            list(targets), fun, arg=list(args), kwarg=kwargs, tgt_type="list", timeout=timeout
        )

    return call


def _about(name, step):  # pylint: disable=redefined-outer-name
    """The data of both events: which step, stage, nodes, release and environment."""
    deploy = ((step.get("pillar") or {}).get("deploy") or {}) if isinstance(step, dict) else {}
    step = step if isinstance(step, dict) else {}
    return {
        "id": step.get("id") or name,
        "name": name,
        "stage": step.get("stage"),
        "targets": list(step.get("targets") or []),
        "release": deploy.get("release"),
        "env": deploy.get("env") or step.get("saltenv"),
    }


def _store():
    return Store(saltglue.load_config(__opts__))


def _outages(run):
    seen = run.data.get("outages") or {}
    if not seen:
        return "no API probed"
    down = [f"{service} {entry['down_seconds']:g} s" for service, entry in sorted(seen.items()) if entry["windows"]]
    return "API down: " + ", ".join(down) if down else f"no API outage ({', '.join(sorted(seen))} probed)"


def begin(name, run):
    """
    Open the record of a ``deploy.plan`` run (its ``run``): read the region's catalog on the first
    controller and start probing each API once a second (every mode but bootstrap), note each
    node's package versions.  Fails, before any node is touched, when the catalog cannot be read.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    probe = run.get("probe")
    what = f"API probe of {', '.join(probe['services'])} every {probe['interval']:g} s" if probe else "no API probe"
    if __opts__.get("test"):
        ret["comment"] = f"would record run {run['id']} ({what})"
        return ret
    try:
        opened = deploy_record.begin(run, _call(120))
    except ReleaseTrainError as err:
        ret.update(result=False, comment=f"HALTED before any node was touched: {err}")
        return ret
    endpoints = ", ".join(f"{service} {url}" for service, url in sorted(opened.probe.endpoints.items())) \
        if opened.probe else "no API probe"
    ret["comment"] = f"run {run['id']}: record {opened.json_path}, report {opened.report_path}; probing {endpoints}"
    return ret


def finish(name, run):
    """Close the run's record as deployed: the probe stopped, versions after, report written, history noted."""
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if __opts__.get("test"):
        ret["comment"] = f"would close run {run}"
        return ret
    closed = deploy_record.close(run, "deployed", call=_call(120))
    if closed is None:
        ret["comment"] = f"run {run} is not open in this process (nothing recorded)"
        return ret
    _store().record_deploy(closed.summary())
    ret["comment"] = f"run {run} deployed in {closed.data['seconds']:g} s; {_outages(closed)}; report {closed.report_path}"
    return ret


def _halt(run_id, failed, call):
    """Close the halted run, note it in the history, roll back when it says so; the comment's tail."""
    halted = failed.halted()
    closed = deploy_record.close(run_id, "halted", halted, call)
    if closed is None:
        return ""
    store = _store()
    tail = f"; {_outages(closed)}; report {closed.report_path}"
    if closed.conf.get("on_failure") != "rollback":
        store.record_deploy(closed.summary())
        return tail

    def plan_for(release, env, mode, settings):
        plan = __salt__["saltutil.runner"]("deploy.plan", release=release, env=env, mode=mode, settings=settings)
        if not isinstance(plan, dict) or plan.get("error") or "steps" not in plan:
            raise ReleaseTrainError(f"deploy.plan {mode} of {release}: {plan.get('error') if isinstance(plan, dict) else plan}")
        return plan

    back = deploy_rollback.rollback(closed, store, plan_for, call, by=saltglue.who(__opts__, "deploy.region on_failure"))
    closed.data["rollback"] = back
    closed.data["outcome"] = {"deployed": "rolled back", "refused": "halted"}.get(back["outcome"], "rollback failed")
    closed.save()
    store.record_deploy(closed.summary())
    if back["outcome"] == "deployed":
        return f"; rolled back to {back['to']} (run {back['run']}, {back['seconds']:g} s){tail}"
    return f"; {back['reason']}{tail}"


def step(name, step, run=None):  # pylint: disable=redefined-outer-name
    """
    Apply one ``deploy.plan`` step: disable hooks, the stage's SLS on its nodes,
    its commands, the health gate, enable hooks.  Fails naming node, stage and
    reason; with ``test=True`` only shows what each node would change.
    Fires ``releasetrain/deploy/step/start`` and ``.../done`` on the master bus.

    .. code-block:: yaml

        07-compute-batch1of2:
          deploy.step:
            - step: {"stage": "compute", "targets": ["cmp01", "cmp02"], "sls": ["openstack.nova.compute"],
                     "saltenv": "test", "pillar": {}, "before": [], "commands": [], "after": [], "gate": []}
            - failhard: True
    """
    about = _about(name, step)
    with saltglue.MasterEvents(__opts__, EVENT_PREFIX) as emit:
        emit("start", about)
        started = time.monotonic()
        ret = {"name": name, "result": False, "changes": {}, "comment": ""}
        try:
            ret = _apply(name, step, run)
        except Exception as err:  # a bug: Salt reports it; the done event still says the step ended
            ret["comment"] = f"{type(err).__name__}: {err}"
            if run and not __opts__.get("test"):
                _halt(run, deploy_run.StepFailed(step.get("stage"), "-", ret["comment"]), _call(120))
            raise
        finally:
            comment = str(ret.get("comment") or "").strip()
            emit("done", {**about, "result": ret.get("result"), "seconds": round(time.monotonic() - started, 2),
                          "comment": comment.splitlines()[0] if comment else ""})
    return ret


def _apply(name, step, run_id):  # pylint: disable=redefined-outer-name
    test = bool(__opts__.get("test"))
    call = _call(step.get("timeout", 120))
    opened = None if test or not run_id else deploy_record.get(run_id)
    started, wall = time.monotonic(), deploy_record.now()
    try:
        outcome = deploy_run.run_step(step, call, test=test)
        problem = opened.outage_problem() if opened else None
        if problem:
            raise deploy_run.StepFailed(step["stage"], "the API probe", problem)
    except deploy_run.StepFailed as err:
        comment = f"HALTED: {err}"
        if opened:
            opened.add_step(step, wall, time.monotonic() - started, False, comment)
            comment += _halt(run_id, err, call)
        return {"name": name, "result": False, "changes": {}, "comment": comment}
    if opened:
        opened.add_step(step, wall, time.monotonic() - started, True, outcome["comment"], outcome.get("gate"))
    result = None if test and outcome["would_change"] else True
    return {"name": name, "result": result, "changes": outcome["changes"], "comment": outcome["comment"]}
