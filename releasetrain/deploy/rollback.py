"""``on_failure: rollback``: after a halted upgrade, the environment goes back to the release it
served before, and that release is applied again in mode downgrade (its older pins: apt downgrades).

Refused, with the reason and the region left halted for a person, after a bootstrap (nothing to go
back to), after mode major (the databases were migrated to the new release's schemas: going back
means restoring the pre-check's backup, which is an operator's call), and when the environment
has no earlier release.
"""

import time

from releasetrain.deploy import record as deploy_record
from releasetrain.deploy import run as deploy_run
from releasetrain.errors import ReleaseTrainError


def refusal(mode):
    """Why a halted run of ``mode`` is not rolled back by itself, or None when it may be."""
    if mode == "major":
        return ("automatic rollback refused: mode major migrated the databases to the new release's "
                "schemas; going back means restoring the pre-check's backup (states/openstack/UPGRADE.md), "
                "the region is left halted for a person")
    if mode in ("bootstrap", "downgrade"):
        return f"automatic rollback refused: a halted {mode} has no earlier state of the region to go back to"
    return None


def rollback(halted, store, plan_for, call, by):
    """Roll the environment of the ``halted`` run (a closed :class:`~releasetrain.deploy.record.Run`)
    back and apply the release it served before.

    ``plan_for(release, env, mode, settings)`` returns a ``deploy.plan`` (or raises
    ReleaseTrainError); ``call`` runs a function on minions (:func:`releasetrain.deploy.run.run_step`'s).
    Returns what the halted run's record keeps as ``rollback``: {to, run, outcome (deployed | failed | refused), reason, seconds}.
    """
    started = time.monotonic()
    data = halted.data
    why = refusal(data["mode"])
    if why:
        return {"to": None, "run": None, "outcome": "refused", "reason": why, "seconds": 0.0}
    try:
        switched = store.rollback(data["env"], by)
    except ReleaseTrainError as err:
        return {"to": None, "run": None, "outcome": "refused", "reason": f"automatic rollback refused: {err}",
                "seconds": 0.0}
    to = switched["release"]
    result = {"to": to, "run": None, "outcome": "failed", "reason": None, "seconds": None}
    settings = dict(halted.conf.get("settings") or {}, on_failure="halt")  # a failed rollback halts
    back = None
    try:
        plan = plan_for(to, data["env"], "downgrade", settings)
        # the halt as the history keeps it (the failed states stay in the halted run's JSON)
        plan["run"]["rollback_of"] = {"release": data["release"], "run": data["run"],
                                      "halted": halted.summary()["halted"]}
        back = deploy_record.begin(plan["run"], call)
        result["run"] = back.data["run"]
        for step in plan["steps"]:
            begun, wall = time.monotonic(), deploy_record.now()
            try:
                outcome = deploy_run.run_step(step, call)
            except deploy_run.StepFailed as err:
                back.add_step(step, wall, time.monotonic() - begun, False, f"HALTED: {err}")
                raise
            back.add_step(step, wall, time.monotonic() - begun, True, outcome["comment"], outcome.get("gate"))
    except (ReleaseTrainError, deploy_run.StepFailed) as err:
        result["reason"] = f"the rollback to {to} halted: {err}"
        if back is not None:
            halted_at = (err.halted() if isinstance(err, deploy_run.StepFailed)
                         else {"stage": "plan", "node": None, "reason": str(err)})
            deploy_record.close(back.data["run"], "halted", halted_at, call)
            store.record_deploy(back.summary())
    else:
        deploy_record.close(back.data["run"], "deployed", None, call)
        store.record_deploy(back.summary())
        result.update(outcome="deployed")
    result["seconds"] = round(time.monotonic() - started, 1)
    return result
