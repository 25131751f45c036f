"""
The Gerrit-driven release train: hook and stream events in, votes and deployments out.

Configuration: ``releasetrain:gerrit`` (see ``releasetrain/gerrit/events.py``) and
``releasetrain:pipeline`` (see ``releasetrain/gerrit/pipeline.py``); the reactor SLS
files in ``reactor/`` call ``pipeline.handle_hook`` and ``pipeline.on_event``.
"""

import logging

from releasetrain import saltglue
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit import pipeline as rt_pipeline
from releasetrain.saltglue import positive_int, runner

log = logging.getLogger(__name__)

__virtualname__ = "pipeline"
TRIMMED = "VALUE_TRIMMED"  # what salt.utils.dicttrim puts in place of a value over max_event_size


def __virtual__():
    return __virtualname__


def _orchestrate(emit):
    def run(sls, saltenv, pillar):
        import salt.runner

        emit("orchestrate/start", {"sls": sls, "saltenv": saltenv, "release": pillar.get("release"),
                                   "env": pillar.get("env")})
        try:
            result = salt.runner.RunnerClient(__opts__).cmd(
                "state.orchestrate", arg=[sls], kwarg={"saltenv": saltenv, "pillar": pillar},
                print_event=False, full_return=False)
        except Exception as err:  # pylint: disable=broad-except
            return False, f"state.orchestrate {sls}: {type(err).__name__}: {err}"
        return rt_pipeline.orchestration_outcome(sls, result)

    return run


def _lab(topology):
    """What brings candidate regions up and down: copies of ``topology`` (pipeline:candidate:region)."""
    from releasetrain.lab import copies, settings

    return copies.Copies(settings.from_opts(__opts__), __opts__, topology, log=log.warning)


def _pipeline(emit):
    return rt_pipeline.Pipeline(saltglue.load_config(__opts__), _orchestrate(emit), emit=emit, lab=_lab)


@runner
def handle_hook(tag, data):
    """
    Check, normalise and forward a Gerrit webhook that salt-api fired as
    ``salt/netapi/hook/...``: a wrong or missing secret, a malformed event or an
    unconfigured project is logged and dropped; a good one is fired as
    ``releasetrain/gerrit/<type>``. Called by ``reactor/gerrit_hook.sls``.

    CLI Example:

    .. code-block:: bash

        salt-run pipeline.handle_hook tag=salt/netapi/hook/gerrit/SECRET data='{"body": "{...}", "headers": {}}'
    """

    def _handle():
        config = saltglue.load_config(__opts__)
        settings = gerrit.settings(config)
        hook = data if isinstance(data, dict) else {}
        headers = hook.get("headers") if isinstance(hook.get("headers"), dict) else {}
        if not gerrit.secret_matches(gerrit.hook_secret(tag, headers, settings), settings.secret):
            log.warning("releasetrain: dropped a Gerrit hook with a wrong or missing secret (from %s)",
                        headers.get("Remote-Addr", "?"))
            return _dropped(config, "rejected", "wrong or missing secret")
        body = _hook_body(hook)
        event, why = gerrit.accept(body, settings)
        if event is None:
            log.warning("releasetrain: Gerrit hook %s", why)
            return _dropped(config, why.split(":", 1)[0], why, gerrit.identify(body))
        with saltglue.MasterEvents(__opts__, "releasetrain/gerrit") as emit:
            emit(event["type"], event)
        return {"result": "forwarded", "type": event["type"], "key": event["key"]}

    return _recording_failures("hook", _handle)


def _hook_body(hook):
    """The event salt-api got: the raw body, or its parsed JSON when the master's ``max_event_size``
    trimmed the body away (salt-api puts both on the bus, and Salt trims the largest values first)."""
    body = hook.get("body")
    if (not body or body == TRIMMED) and isinstance(hook.get("post"), dict):
        return hook["post"]
    return body or ""


def _dropped(config, result, reason, known=None):
    """Record an event that goes no further (``pipeline.status`` shows it under ``rejected``) and say why."""
    rt_pipeline.Pipeline(config, orchestrate=None).write_rejected("hook", result, reason, known)
    return {"result": result, "reason": reason}


def _recording_failures(source, func):
    """Run ``func``; an exception it raises is recorded as a dropped event before it goes on to Salt."""
    try:
        return func()
    except Exception as err:  # pylint: disable=broad-except
        reason = f"{source} failed: {type(err).__name__}: {err}"
        log.error("releasetrain: Gerrit %s", reason)
        try:
            rt_pipeline.Pipeline(saltglue.load_config(__opts__), orchestrate=None).write_rejected(
                source, "failed", reason)
        except Exception as record_err:  # pylint: disable=broad-except
            log.error("releasetrain: could not record the failure: %s", record_err)
        raise


@runner
def on_event(event):
    """
    Run the pipeline for a normalised, signed Gerrit event (``releasetrain/gerrit/<type>``):
    patchset-created votes, change-merged deploys, comment-added approves production.
    Called by ``reactor/gerrit_event.sls``.

    CLI Example:

    .. code-block:: bash

        salt-run pipeline.on_event event='{"type": "change-merged", ...}'
    """

    def _on_event():
        with saltglue.MasterEvents(__opts__, "releasetrain/pipeline") as emit:
            return _pipeline(emit).on_event(event if isinstance(event, dict) else {})

    return _recording_failures("event", _on_event)


@runner
def status(limit: positive_int = 20):
    """
    Recent pipeline runs (event, change, release, environments, result, step
    durations, each deploy step's ``report``: the HTML report of its ``deploy.region`` run),
    merges queued for the train, releases awaiting approval, and each environment's
    release and last ``deploy.region`` run (``store``).

    CLI Example:

    .. code-block:: bash

        salt-run pipeline.status
        salt-run pipeline.status limit=50
    """
    return _pipeline(lambda tag, data: None).status(limit=limit)
