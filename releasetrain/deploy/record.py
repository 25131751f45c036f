"""The record of one ``deploy.region`` run: its steps, the API outages the probe saw, each node's
package versions before and after, its outcome; kept as ``<runs>/<run id>.json`` with an HTML
report beside it (:mod:`releasetrain.deploy.report`), and summed up in the store's history.

The orchestration runs in one process (``salt-run state.orchestrate``, or the runner process the
reactor starts), so the open runs live here, keyed by run id: ``deploy.begin`` opens one,
every ``deploy.step`` adds its step, and the run is closed by ``deploy.finish`` or by the step
that halts it.  The record is written after every step: a run whose process died keeps what it did.
"""

import datetime
import json
import os
import re
import tempfile
import threading
import time

from releasetrain.deploy import probe as api_probe
from releasetrain.deploy import report
from releasetrain.deploy import run as deploy_run
from releasetrain.errors import ReleaseTrainError

OUTLINE_CHARS = 200  # of each failed state's comment in an outline
_OPEN = {}
_OPEN_LOCK = threading.Lock()
#: What a probed URL keeps of a catalog entry: Keystone's substitutions (``%(tenant_id)s``) are cut off.
_SUBSTITUTION = re.compile(r"[%$]\(")


def now():
    """Wall-clock time, UTC, to the millisecond (ISO 8601)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def catalog_endpoints(text, services=None):
    """service name -> URL of the public endpoints in ``openstack endpoint list -f json`` output,
    only ``services`` (all when empty); raises ReleaseTrainError when it holds none."""
    try:
        rows = json.loads(text)
    except ValueError:
        rows = None
    if not isinstance(rows, list):
        raise ReleaseTrainError(f"the catalog is not a JSON list of endpoints: {str(text).strip()[:200]!r}")
    wanted = set(services or [])
    endpoints = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        name, url = row.get("Service Name"), row.get("URL")
        if row.get("Interface", "public") != "public" or not isinstance(name, str) or not isinstance(url, str):
            continue
        if row.get("Enabled") is False or (wanted and name not in wanted):
            continue
        endpoints.setdefault(name, _SUBSTITUTION.split(url, 1)[0])
    if not endpoints:
        which = f" for {', '.join(sorted(wanted))}" if wanted else ""
        raise ReleaseTrainError(f"the catalog lists no public endpoint{which}")
    return endpoints


class Run:
    """One run's record; ``probe`` (an :class:`~releasetrain.deploy.probe.ApiProbe`) is started by the caller."""

    def __init__(self, conf, probe=None):
        self.conf = conf
        self.directory = conf["directory"]
        self.probe = probe
        self.started = time.monotonic()
        self.limits = api_probe.check_limit(conf.get("max_api_outage"))
        self.data = {
            "run": conf["id"],
            "release": conf.get("release"),
            "env": conf.get("env"),
            "mode": conf.get("mode"),
            "previous": conf.get("previous"),
            "started": now(),
            "finished": None,
            "seconds": None,
            "outcome": "running",
            "halted": None,
            "steps": [],
            "outages": {},
            "max_api_outage": self.limits,
            "versions": {},
            "rollback": None,
            "rollback_of": conf.get("rollback_of"),
        }

    @property
    def json_path(self):
        return os.path.join(self.directory, f"{self.data['run']}.json")

    @property
    def report_path(self):
        return os.path.join(self.directory, f"{self.data['run']}.html")

    def add_step(self, step, started, seconds, result, comment, gate=None):
        self.data["steps"].append({
            "id": step.get("id"), "stage": step.get("stage"), "targets": list(step.get("targets") or []),
            "started": started, "seconds": round(seconds, 2), "result": result, "comment": comment,
            "gate": gate or {},
        })
        self.save()

    def outage_problem(self):
        """The first service down longer than ``max_api_outage`` as one line, or None."""
        if not self.probe or not self.limits:
            return None
        over = api_probe.over_limit(self.probe.report(), self.limits)
        if not over:
            return None
        service, longest, limit = over[0]
        return f"the {service} API was down {longest:g} s, longer than max_api_outage {limit:g} s"

    def save(self):
        if self.probe:
            self.data["outages"] = self.probe.report()
        _write_atomic(self.json_path, json.dumps(self.data, indent=1, sort_keys=True, default=str))
        report.write(self.data, self.directory)

    def close(self, outcome, halted=None, versions_after=None):
        if self.probe:
            self.probe.stop()
        for node, after in (versions_after or {}).items():
            self.data["versions"].setdefault(node, {"before": {}})["after"] = after
        self.data.update(outcome=outcome, halted=halted, finished=now(),
                         seconds=round(time.monotonic() - self.started, 1))
        self.save()

    def summary(self):
        """What the store's history keeps of the run (the rest, e.g. the failed states a halt names,
        is in its JSON and HTML)."""
        data = self.data
        halted = data["halted"]
        if isinstance(halted, dict):
            halted = {key: value for key, value in halted.items() if key != "states"}
        return {
            "action": "deploy", "release": data["release"], "env": data["env"], "mode": data["mode"],
            "run": data["run"], "outcome": data["outcome"], "seconds": data["seconds"],
            "halted": halted, "report": self.report_path,
            "outages": {service: {"down_seconds": seen["down_seconds"], "longest": seen["longest"],
                                  "windows": len(seen["windows"])}
                        for service, seen in data["outages"].items()},
            **({"rollback": data["rollback"]} if data["rollback"] else {}),
            **({"rollback_of": data["rollback_of"]} if data["rollback_of"] else {}),
        }


def load(summary):
    """The JSON record of the run a history entry names (it lies beside the entry's report), or None."""
    path = (summary or {}).get("report")
    if not path:
        return None
    try:
        with open(os.path.splitext(path)[0] + ".json", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def outline(data, limit=OUTLINE_CHARS):
    """A run's record as plain lines, for a Gerrit vote or a log: where it halted and each failed
    state's id with the first line of its comment (cut to ``limit``), then every step with its
    result, nodes and duration."""
    lines = []
    halted = data.get("halted") if isinstance(data.get("halted"), dict) else None
    if halted:
        lines.append(f"halted at stage {halted.get('stage')} on {halted.get('node')}:")
        states = halted.get("states") or [{"id": None, "comment": halted.get("reason")}]
        for state in (state for state in states if isinstance(state, dict)):
            text = report.first_line(state.get("comment"), limit)
            lines.append(f"  {state['id']}: {text}" if state.get("id") else f"  {text}")
    lines.append("steps:")
    for step in (step for step in data.get("steps") or [] if isinstance(step, dict)):
        result = {True: "ok", False: "FAILED"}.get(step.get("result"), "unknown")
        where = ", ".join(step.get("targets") or []) or "region"
        seconds = step.get("seconds")
        took = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "? s"
        lines.append(f"  {result:<7} {step.get('id')} ({where}) {took}")
    return lines


def _write_atomic(path, text):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".run-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def versions(call, nodes, packages):
    """node -> {package: installed version} of ``packages`` (those not installed left out)."""
    if not nodes or not packages:
        return {}
    raw = call(list(nodes), "pkg.version", list(packages), {}) or {}
    found = {}
    for node in nodes:
        ret = (raw.get(node) or {}).get("ret")
        if isinstance(ret, str) and len(packages) == 1:
            ret = {packages[0]: ret}
        found[node] = {name: version for name, version in sorted((ret or {}).items()) if version} \
            if isinstance(ret, dict) else {}
    return found


def begin(conf, call, make_probe=api_probe.ApiProbe):
    """Open run ``conf["id"]``: read the catalog on the first controller and start the probe (when
    ``conf["probe"]``), note every node's package versions.  Raises ReleaseTrainError, with nothing
    started, when the catalog cannot be read: the run must not start blind."""
    probe = None
    settings = conf.get("probe")
    if settings:
        node, command = settings["node"], deploy_run.with_openrc(settings, settings["command"])
        raw = (call([node], "cmd.run_all", [], deploy_run.shell_command(command)) or {}).get(node)
        ret = (raw or {}).get("ret")
        if not isinstance(ret, dict) or ret.get("retcode") != 0:
            detail = (ret.get("stderr") or ret.get("stdout")) if isinstance(ret, dict) else (ret or "no answer")
            raise ReleaseTrainError(
                f"the API probe cannot read the region's catalog on {node} (is keystone up?): "
                f"{str(detail).strip()[-300:]}; the run did not start"
            )
        try:
            endpoints = catalog_endpoints(ret.get("stdout", ""), settings.get("services"))
        except ReleaseTrainError as err:
            raise ReleaseTrainError(f"the API probe cannot use the catalog on {node}: {err}; the run did not start") from None
        probe = make_probe(endpoints, interval=settings.get("interval", 1), timeout=settings.get("timeout"))
    run = Run(conf, probe)
    run.data["versions"] = {node: {"before": found} for node, found in
                            versions(call, conf.get("nodes") or [], conf.get("packages") or []).items()}
    if probe:
        probe.start()  # a service already down is measured, not refused: a re-run resumes a halted run
    with _OPEN_LOCK:
        _OPEN[conf["id"]] = run
    run.save()
    return run


def get(run_id):
    with _OPEN_LOCK:
        return _OPEN.get(run_id)


def close(run_id, outcome, halted=None, call=None):
    """Close the open run ``run_id``: probe stopped, versions after, record and report written.
    Returns the run (None when it is not open in this process)."""
    with _OPEN_LOCK:
        run = _OPEN.pop(run_id, None)
    if run is None:
        return None
    after = versions(call, run.conf.get("nodes") or [], run.conf.get("packages") or []) if call else {}
    run.close(outcome, halted, after)
    return run
