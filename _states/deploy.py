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
"""

import time

from releasetrain import saltglue
from releasetrain.deploy import run as deploy_run

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


def step(name, step):  # pylint: disable=redefined-outer-name
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
            ret = _apply(name, step)
        except Exception as err:  # a bug: Salt reports it; the done event still says the step ended
            ret["comment"] = f"{type(err).__name__}: {err}"
            raise
        finally:
            comment = str(ret.get("comment") or "").strip()
            emit("done", {**about, "result": ret.get("result"), "seconds": round(time.monotonic() - started, 2),
                          "comment": comment.splitlines()[0] if comment else ""})
    return ret


def _apply(name, step):  # pylint: disable=redefined-outer-name
    test = bool(__opts__.get("test"))
    try:
        outcome = deploy_run.run_step(step, _call(step.get("timeout", 120)), test=test)
    except deploy_run.StepFailed as err:
        return {"name": name, "result": False, "changes": {}, "comment": f"HALTED: {err}"}
    result = None if test and outcome["would_change"] else True
    return {"name": name, "result": result, "changes": outcome["changes"], "comment": outcome["comment"]}
