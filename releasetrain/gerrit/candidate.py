"""patchset-created: package a candidate kit with the change's revision, deploy it to a volatile
environment and vote Verified +1 or -1 on the change (``releasetrain:pipeline:candidate``).

With ``candidate:region`` set, each candidate gets a region of its own
(:mod:`releasetrain.gerrit.regions`): it waits for a slot in order, is published to the slot's
volatile environment, brings the slot's lab region up (over the role layers of its own package
states unless ``layers: false``), deploys there (bootstrap), votes, and always removes the
region.  A superseded candidate gets a message and no vote.
"""

import contextlib
import os

from releasetrain.deploy import record as deploy_record
from releasetrain.deploy.settings import ROLES
from releasetrain.errors import ReleaseTrainError
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit import regions
from releasetrain.lab import layers
from releasetrain.release import packaging


def run_candidate(pipeline, event):
    run = pipeline.new_run(event, "candidate")
    conf = pipeline.settings["candidate"]
    by = f"gerrit:{event['who'] or 'unknown'}"
    ok, report, env = False, "", None
    try:
        if pipeline.regions is None:
            env = pipeline.config.check_env(conf.get("env") or "volatile")
            run.record["envs"] = [env]
            built = _package(pipeline, run, event, by)
            ok, report = _deploy(pipeline, run, event, built, env, conf.get("saltenv") or env, by, {})
        else:
            built = _package(pipeline, run, event, by)
            ok, report, env = _on_own_region(pipeline, run, event, built, by)
    except regions.Superseded as err:
        return _superseded(pipeline, run, event, str(err))
    except ReleaseTrainError as err:
        ok, report = False, str(err)
    where = f" in {env}" if env else ""
    message = (f"releasetrain: candidate {run.record['release'] or '(not built)'} with {event['repo']} at "
               f"{event['revision'][:12]}{where}: {'PASSED' if ok else 'FAILED'}\n\n{report}".strip())
    try:
        with run.step("vote"):
            run.record["vote"] = gerrit.post_review(pipeline.gerrit, event, ok, message[:4000])["labels"]
    except ReleaseTrainError as err:
        return run.finish("failure", error=str(err))
    return run.finish("success" if ok else "failure", report=report[:1000])


def _package(pipeline, run, event, by):
    with run.step("package"):
        kit = pipeline.kit.manifest_at(None).with_repo(event["repo"], event["revision"], event["ref"])
        built = packaging.build(pipeline.config, kit, by=by)
        run.record["release"] = built["release"]
    return built


def _deploy(pipeline, run, event, built, env, saltenv, by, extra_deploy, check=lambda: None, prepare=lambda: None):
    """Publish ``built`` to ``env``, ``prepare()`` (a candidate region brings itself up there), and run
    the candidate orchestration there: ``(ok, report)``."""
    conf = pipeline.settings["candidate"]
    ok, report = False, ""
    try:
        with pipeline.store.env_lock(env):  # over the publish and the deployment
            with run.step("publish", env):
                pipeline.store.publish(built["release"], env, by=by)
            check()
            prepare()
            with run.step("deploy", env) as step:
                pillar = {**(conf.get("pillar") or {}), "release": built["release"], "env": env,
                          "mode": "bootstrap", "kit": built["tarball"], "change": event["change"],
                          "patchset": event["patchset"], "project": event["project"]}
                if extra_deploy:
                    pillar["deploy"] = {**(pillar.get("deploy") or {}), **extra_deploy}
                ok, report = pipeline.orchestrate(conf["orchestrate"], saltenv, pillar)
                step["ok"] = ok
                report = _with_run(report, pipeline.note_report(step, built["release"], env))
    finally:
        if conf.get("teardown"):
            with run.step("teardown", env):
                pipeline.orchestrate(conf["teardown"], saltenv,
                                     {"release": built["release"], "env": env, "mode": "teardown"})
    return ok, report


def _on_own_region(pipeline, run, event, built, by):
    """Wait for a slot, bring its region up, deploy there, remove the region: ``(ok, report, env)``."""
    def waiting(ticket, ahead):
        pipeline.emit("candidate/waiting", {"run": run.record["id"], "change": event["change"],
                                            "patchset": event["patchset"], "ahead": ahead})

    with contextlib.ExitStack() as holding:
        with run.step("queue") as queued:
            slot, ticket = holding.enter_context(pipeline.regions.take(event, run.record["id"], on_wait=waiting))
            queued.update(env=slot.env, region=slot.name)
        run.record["envs"], run.record["region"] = [slot.env], slot.name

        def check():
            newer = pipeline.regions.superseded_by(ticket)
            if newer is not None:
                raise regions.Superseded(f"patchset {event['patchset']} of change {event['change']} was "
                                         f"superseded by patchset {newer}")

        def region_up():
            with run.step("region", slot.env) as step:
                pipeline.lab.down(slot.number)  # whatever a crashed run left there
                check()
                tree = pipeline.config.env_tree(slot.env)  # the candidate, published: its role layers
                source = layers.Source(os.path.join(tree, "states"), os.path.join(tree, "pillar"), slot.env)
                up = pipeline.lab.up(slot.number, layers=source if pipeline.region_settings.layers else None)
                step["nodes"] = sorted(up.get("nodes") or {})
                step["layers"] = sum(1 for info in (up.get("nodes") or {}).values() if info.get("layer"))
            check()

        try:
            targets = {role: {"tgt": f"{slot.prefix}* and G@roles:{role}", "tgt_type": "compound"} for role in ROLES}
            ok, report = _deploy(pipeline, run, event, built, slot.env, slot.env, by, {"targets": targets}, check,
                                 region_up)
            check()
        except ReleaseTrainError as err:
            if not isinstance(err, regions.Superseded):
                check()  # a region removed under it by a newer patchset is no fault of this candidate
            raise
        finally:
            with run.step("remove region", slot.env):
                pipeline.lab.down(slot.number)
    return ok, report, slot.env


def _superseded(pipeline, run, event, why):
    """No vote for a superseded patchset: a message on it says why (best effort)."""
    try:
        with run.step("message"):
            gerrit.post_review(pipeline.gerrit, event, None, f"releasetrain: not verified: {why}")
    except ReleaseTrainError:
        pass
    return run.finish("superseded", reason=why)


def _with_run(report, entry):
    """The vote's report: with a ``deploy.region`` run recorded, where it halted (stage, node, each
    failed state's id and comment, cut), every step's result and duration, and its report's path,
    above the orchestration's own count; else the orchestration's report as it is."""
    data = deploy_record.load(entry)
    if data is None:
        return report
    summary = report.splitlines()[0] if report else ""
    return "\n".join([*deploy_record.outline(data), f"report: {entry['report']}", summary]).strip()
