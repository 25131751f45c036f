"""Run one step of a ``deploy.plan`` from an orchestrate SLS (``deploy.region``)."""

from releasetrain.deploy import run as deploy_run


def _call(timeout):
    def call(targets, fun, args, kwargs):
        return __salt__["saltutil.cmd"](
            list(targets), fun, arg=list(args), kwarg=kwargs, tgt_type="list", timeout=timeout
        )

    return call


def step(name, step):  # pylint: disable=redefined-outer-name
    """
    Apply one ``deploy.plan`` step: disable hooks, the stage's SLS on its nodes,
    its commands, the health gate, enable hooks.  Fails naming node, stage and
    reason; with ``test=True`` only shows what each node would change.

    .. code-block:: yaml

        07-compute-batch1of2:
          deploy.step:
            - step: {"stage": "compute", "targets": ["cmp01", "cmp02"], "sls": ["openstack.nova.compute"],
                     "saltenv": "test", "pillar": {}, "before": [], "commands": [], "after": [], "gate": []}
            - failhard: True
    """
    test = bool(__opts__.get("test"))
    try:
        outcome = deploy_run.run_step(step, _call(step.get("timeout", 120)), test=test)
    except deploy_run.StepFailed as err:
        return {"name": name, "result": False, "changes": {}, "comment": f"HALTED: {err}"}
    result = None if test and outcome["would_change"] else True
    return {"name": name, "result": result, "changes": outcome["changes"], "comment": outcome["comment"]}
