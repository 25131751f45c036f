"""patchset-created: package a candidate kit with the change's revision, deploy it to a volatile
environment and vote Verified +1 or -1 on the change (``releasetrain:pipeline:candidate``)."""

from releasetrain.deploy import record as deploy_record
from releasetrain.errors import ReleaseTrainError
from releasetrain.gerrit import events as gerrit
from releasetrain.release import packaging


def run_candidate(pipeline, event):
    run = pipeline.new_run(event, "candidate")
    conf = pipeline.settings["candidate"]
    env = pipeline.config.check_env(conf.get("env") or "volatile")
    saltenv = conf.get("saltenv") or env
    by = f"gerrit:{event['who'] or 'unknown'}"
    run.record["envs"] = [env]
    ok, report = False, ""
    try:
        with run.step("package"):
            kit = pipeline.kit.manifest_at(None).with_repo(event["repo"], event["revision"], event["ref"])
            built = packaging.build(pipeline.config, kit, by=by)
            run.record["release"] = built["release"]
        try:
            with pipeline.store.env_lock(env):  # over the publish and the deployment
                with run.step("publish", env):
                    pipeline.store.publish(built["release"], env, by=by)
                with run.step("deploy", env) as step:
                    pillar = {**(conf.get("pillar") or {}), "release": built["release"], "env": env,
                              "mode": "bootstrap", "kit": built["tarball"], "change": event["change"],
                              "patchset": event["patchset"], "project": event["project"]}
                    ok, report = pipeline.orchestrate(conf["orchestrate"], saltenv, pillar)
                    step["ok"] = ok
                    report = _with_run(report, pipeline.note_report(step, built["release"], env))
        finally:
            if conf.get("teardown"):
                with run.step("teardown", env):
                    pipeline.orchestrate(conf["teardown"], saltenv,
                                         {"release": built["release"], "env": env, "mode": "teardown"})
    except ReleaseTrainError as err:
        ok, report = False, str(err)
    message = (f"releasetrain: candidate {run.record['release'] or '(not built)'} with {event['repo']} at "
               f"{event['revision'][:12]} in {env}: {'PASSED' if ok else 'FAILED'}\n\n{report}".strip())
    try:
        with run.step("vote"):
            run.record["vote"] = gerrit.post_review(pipeline.gerrit, event, ok, message[:4000])["labels"]
    except ReleaseTrainError as err:
        return run.finish("failure", error=str(err))
    return run.finish("success" if ok else "failure", report=report[:1000])


def _with_run(report, entry):
    """The vote's report: with a ``deploy.region`` run recorded, where it halted (stage, node, each
    failed state's id and comment, cut), every step's result and duration, and its report's path,
    above the orchestration's own count; else the orchestration's report as it is."""
    data = deploy_record.load(entry)
    if data is None:
        return report
    summary = report.splitlines()[0] if report else ""
    return "\n".join([*deploy_record.outline(data), f"report: {entry['report']}", summary]).strip()
