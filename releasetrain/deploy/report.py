"""The HTML report of one ``deploy.region`` run: a self-contained page an operator reads after every run.

``render(run)`` turns the run record into one HTML page (inline CSS and SVG, no script, nothing fetched);
``write(run, directory)`` stores it as ``<directory>/<run id>.html``.  The record may come from a halted
or early-failed run: any field may be missing, None or malformed; the page then says what is missing
and never raises.  Every value from the record reaches the page through Jinja2's autoescape.

The timeline's SVG elements carry data attributes for tests and tools: ``g.step`` (``failed`` or
``unknown`` added when the step did not pass) with ``data-node``, ``data-stage``, ``data-step``; the
axis ``line.axis`` (``x1`` is the run's start, ``x2`` its end); ``rect.outage`` bands over the node rows
and ``rect.window`` bars on each service's row, both with ``data-service`` (and ``open`` in the class
of a window still open, drawn to the run's end).
"""

import datetime
import math
import numbers
import os
import re
import tempfile

import jinja2

from releasetrain.errors import ReleaseTrainError

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
SAFE_RUN_ID = re.compile(r"[A-Za-z0-9._-]+")

# Timeline geometry, in SVG user units (the page scales the drawing to its width).
WIDTH = 1200
LEFT = 150  # the row labels' column
RIGHT = 20
TOP = 34  # the axis and its tick labels
ROW = 26
BAR = 18
GAP = 14  # between the node rows and the service rows
MIN_BAR = 2
SUMMARY_CHARS = 300  # the longest halt reason shown in full above the fold
TICK_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
MAX_TICKS = 12

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(run):
    """The report page of ``run`` (a deploy run record) as an HTML string."""
    return _ENV.get_template("report.html").render(_Page(run).view())


def write(run, directory):
    """Write the report of ``run`` to ``<directory>/<run id>.html`` atomically; returns the path."""
    run_id = run.get("run") if isinstance(run, dict) else None
    if not isinstance(run_id, str) or not SAFE_RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
        raise ReleaseTrainError(
            f"deploy report: run id {run_id!r} is not a safe file name (letters, digits, '.', '_', '-' only)"
        )
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{run_id}.html")
    page = render(run).encode("utf-8", errors="replace")  # a lone surrogate must not lose the report
    handle, temporary = tempfile.mkstemp(prefix=f".{run_id}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(page)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


# --- reading the record: tolerant of anything --------------------------------------------------------


def parse_time(value):
    """An aware datetime from an ISO 8601 string (naive ones taken as UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def number(value):
    """A finite float from an int or float (not a bool), or None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def duration(seconds):
    """``seconds`` for people: "41.2 s", "13 min 32 s", "1 h 02 min"; "?" when unknown."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _text(value, missing="not recorded"):
    if value is None or value == "":
        return missing
    return value if isinstance(value, str) else str(value)


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _sequence(value):
    return value if isinstance(value, (list, tuple)) else []


def first_line(text, limit=SUMMARY_CHARS):
    """The first non-empty line of ``text`` (a halt's reason, a state's comment), cut to ``limit``
    characters: what fits above the fold, or on one line of a vote."""
    text = str(text or "")
    first = next((line.strip() for line in text.splitlines() if line.strip()), text.strip())
    return first if len(first) <= limit else first[:limit - 1].rstrip() + "\u2026"


def _when(moment, raw):
    if moment is not None:
        return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _text(raw)


def tick_step(span):
    """Seconds between the axis' ticks: a round step giving at most ``MAX_TICKS`` ticks."""
    for step in TICK_STEPS:
        if span / step <= MAX_TICKS:
            return step
    return TICK_STEPS[-1] * math.ceil(span / TICK_STEPS[-1] / MAX_TICKS)


def tick_label(offset, step):
    if step < 60:
        return f"{int(offset) // 60}:{int(offset) % 60:02d}"
    if step < 3600 or offset % 3600:
        return f"{int(offset) // 60} min"
    return f"{int(offset) // 3600} h"


class _Page:
    """The view of one run record: the values and the geometry the template draws."""

    def __init__(self, run):
        self.notes = []
        if not isinstance(run, dict):
            self.notes.append(f"the run record is a {type(run).__name__}, not a mapping: nothing to show")
            run = {}
        self.run = run
        self.started = parse_time(run.get("started"))
        self.finished = parse_time(run.get("finished"))
        self.seconds = number(run.get("seconds"))
        if self.seconds is None and self.started and self.finished:
            self.seconds = (self.finished - self.started).total_seconds()
        self.steps = self._steps()
        self.outages = self._outages()
        self.origin, self.span = self._extent()

    # -- the record's parts, normalised --

    def _missing(self, field, what):
        value = self.run.get(field)
        if value is None:
            self.notes.append(f"no {field} in the record: {what}")
        else:
            self.notes.append(f"{field} {value!r} is not usable: {what}")

    def _steps(self):
        raw = self.run.get("steps")
        if raw is not None and not isinstance(raw, (list, tuple)):
            self._missing("steps", "no steps shown")
        steps = []
        for index, step in enumerate(_sequence(raw), 1):
            if not isinstance(step, dict):
                self.notes.append(f"step #{index} is not a mapping; left out")
                continue
            targets = [_text(target) for target in _sequence(step.get("targets"))]
            result = step.get("result")
            steps.append({
                "id": _text(step.get("id"), f"step #{index}"),
                "stage": _text(step.get("stage"), "?"),
                "targets": targets,
                "rows": targets or ["region"],
                "start": parse_time(step.get("started")),
                "raw_start": step.get("started"),
                "seconds": number(step.get("seconds")),
                "result": "passed" if result is True else "failed" if result is False else "unknown",
                "comment": _text(step.get("comment"), ""),
                "gate": _mapping(step.get("gate")),
            })
        return steps

    def _entries(self, key, shown):
        """The record's mapping ``key`` as (name, value) pairs sorted by name; not a mapping: noted missing."""
        raw = self.run.get(key)
        if raw is not None and not isinstance(raw, dict):
            self._missing(key, shown)
        return sorted(_mapping(raw).items(), key=lambda item: str(item[0]))

    def _outages(self):
        services = []
        for name, seen in self._entries("outages", "no API outages shown"):
            seen = _mapping(seen)
            windows = []
            for window in _sequence(seen.get("windows")):
                window = _mapping(window)
                windows.append({
                    "start": parse_time(window.get("start")),
                    "raw_start": window.get("start"),
                    "end": parse_time(window.get("end")),
                    "open": window.get("end") is None,
                    "seconds": number(window.get("seconds")),
                })
            services.append({"name": _text(name), "seen": seen, "windows": windows})
        return services

    def _extent(self):
        """The timeline's origin (the run's start) and span in seconds."""
        moments = [step["start"] for step in self.steps if step["start"]]
        moments += [window["start"] for service in self.outages for window in service["windows"] if window["start"]]
        origin = self.started
        if origin is None:
            self._missing("started", "the timeline starts at the earliest recorded time")
            origin = min(moments, default=None)
        if origin is None:
            return None, 0.0
        ends = [0.0]
        if self.seconds is not None:
            ends.append(self.seconds)
        if self.finished is not None:
            ends.append((self.finished - origin).total_seconds())
        for step in self.steps:
            if step["start"]:
                ends.append((step["start"] - origin).total_seconds() + (step["seconds"] or 0.0))
        for service in self.outages:
            for window in service["windows"]:
                if window["end"]:
                    ends.append((window["end"] - origin).total_seconds())
                elif window["start"] and not window["open"] and window["seconds"] is not None:
                    ends.append((window["start"] - origin).total_seconds() + window["seconds"])
        return origin, max(ends)

    # -- the timeline --

    def x(self, offset):
        """The x of ``offset`` seconds after the origin; a run of 0 s draws everything at its start."""
        if self.span <= 0:
            return float(LEFT)
        share = min(max(offset / self.span, 0.0), 1.0)
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 2)

    def _offset(self, moment):
        return (moment - self.origin).total_seconds()

    def timeline(self):
        if self.origin is None:
            if self.steps or self.outages:
                self.notes.append("no usable timestamp in the record: the timeline is not drawn")
            return None
        rows = []
        for step in self.steps:
            for row in step["rows"]:
                if row not in rows:
                    rows.append(row)
        row_y = {row: TOP + index * ROW for index, row in enumerate(rows)}
        nodes_bottom = TOP + len(rows) * ROW
        service_top = nodes_bottom + (GAP if self.outages else 0)
        height = service_top + len(self.outages) * ROW + 8
        bars = []
        for step in self.steps:
            if step["start"] is None:
                self.notes.append(
                    f"step {step['id']} has no usable start time ({step['raw_start']!r}): not on the timeline"
                )
                continue
            offset = self._offset(step["start"])
            left, right = self.x(offset), self.x(offset + (step["seconds"] or 0.0))
            for row in step["rows"]:
                bars.append({
                    "step": step, "node": row, "x": left, "y": row_y[row] + (ROW - BAR) / 2,
                    "width": round(max(right - left, MIN_BAR), 2), "height": BAR,
                    "label": f"{step['stage']} {duration(step['seconds'])}",
                })
        bands, windows = [], []
        for index, service in enumerate(self.outages):
            y = service_top + index * ROW
            for window in service["windows"]:
                extent = self._window_extent(service["name"], window)
                if extent is None:
                    continue
                left, right = extent
                shape = {"service": service["name"], "x": left, "width": round(max(right - left, MIN_BAR), 2),
                         "open": window["open"], "seconds": window["seconds"]}
                bands.append({**shape, "y": TOP, "height": max(nodes_bottom - TOP, 0)})
                windows.append({**shape, "y": y + (ROW - BAR) / 2, "height": BAR})
        step_seconds = tick_step(self.span or 1.0)
        ticks = [
            {"x": self.x(offset), "label": tick_label(offset, step_seconds)}
            for offset in range(0, int(self.span) + 1, step_seconds)
        ]
        return {
            "width": WIDTH, "height": height, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "rows": [{"name": row, "y": y, "text_y": y + ROW / 2 + 4} for row, y in row_y.items()],
            "services": [{"name": service["name"], "y": service_top + index * ROW,
                          "text_y": service_top + index * ROW + ROW / 2 + 4}
                         for index, service in enumerate(self.outages)],
            "bars": bars, "bands": bands, "windows": windows, "ticks": ticks,
            "bottom": height - 8, "span": duration(self.span),
        }

    def _window_extent(self, service, window):
        if window["start"] is None:
            self.notes.append(f"an outage window of {service} has no usable start ({window['raw_start']!r}): not drawn")
            return None
        offset = self._offset(window["start"])
        if window["end"] is not None:
            end = self._offset(window["end"])
        elif window["open"]:
            end = self.span  # still down when the run's probe was read: to the run's end
        else:
            end = offset + (window["seconds"] or 0.0)
        return self.x(offset), self.x(end)

    # -- the tables --

    def outage_rows(self):
        limits = _mapping(self.run.get("max_api_outage"))
        rows = []
        for service in self.outages:
            seen = service["seen"]
            longest = number(seen.get("longest"))
            limit = number(limits.get(service["name"], limits.get("*")))
            over = None if limit is None or longest is None else longest > limit
            rows.append({
                "service": service["name"], "url": _text(seen.get("url"), ""),
                "asked": _text(seen.get("asked"), "?"), "windows": len(service["windows"]),
                "open": any(window["open"] for window in service["windows"]),
                "down": duration(number(seen.get("down_seconds"))), "longest": duration(longest),
                "limit": "none" if limit is None else duration(limit),
                "over": {True: "over", False: "within", None: "-"}[over],
            })
        return rows

    def version_rows(self):
        nodes = []
        for node, versions in self._entries("versions", "no package versions shown"):
            versions = _mapping(versions)
            before, after = _mapping(versions.get("before")), _mapping(versions.get("after"))
            packages = []
            for package in sorted(set(before) | set(after), key=str):
                old, new = before.get(package), after.get(package)
                packages.append({
                    "name": _text(package), "before": _text(old, "not installed"),
                    "after": _text(new, "not installed"), "changed": old != new,
                })
            nodes.append({"node": _text(node), "packages": packages})
        return nodes

    def gate_rows(self):
        steps = []
        for step in self.steps:
            nodes = []
            for node, checks in sorted(step["gate"].items(), key=lambda item: str(item[0])):
                rows = []
                for check in _sequence(checks):
                    check = _mapping(check)
                    ok = check.get("ok")
                    rows.append({"name": _text(check.get("name"), "?"), "detail": _text(check.get("detail"), ""),
                                 "ok": "ok" if ok is True else "failed" if ok is False else "unknown"})
                nodes.append({"node": _text(node), "checks": rows})
            start = None if step["start"] is None or self.origin is None else self._offset(step["start"])
            steps.append({**step, "nodes": nodes, "duration": duration(step["seconds"]),
                          "at": "?" if start is None else f"+{duration(start)}",
                          "targets": ", ".join(step["targets"]) or "region"})
        return steps

    # -- the header --

    def header(self):
        run = self.run
        outcome = _text(run.get("outcome"), "unknown")
        halted = run.get("halted")
        if halted is not None and not isinstance(halted, dict):
            halted = {"reason": halted}
        if halted:
            halted = {key: _text(halted.get(key), "?") for key in ("stage", "node", "reason")}
            halted["summary"] = first_line(halted["reason"])
        for field in ("release", "env", "mode", "outcome"):
            if run.get(field) is None:
                self.notes.append(f"no {field} in the record")
        if number(run.get("seconds")) is None:
            known = "taken from started and finished" if self.seconds is not None else "the duration is not known"
            self._missing("seconds", known)
        return {
            "run": _text(run.get("run"), "unnamed run"), "release": _text(run.get("release")),
            "env": _text(run.get("env")), "mode": _text(run.get("mode")),
            "previous": _text(run.get("previous"), "none"), "outcome": outcome,
            "good": outcome == "deployed", "halted": halted or None,
            "started": _when(self.started, run.get("started")),
            "finished": _when(self.finished, run.get("finished")),
            "duration": duration(self.seconds),
        }

    def rollback(self):
        rollback = self.run.get("rollback")
        if rollback is None:
            return None
        if not isinstance(rollback, dict):
            return {"to": "?", "run": _text(rollback), "outcome": "unknown", "good": False, "duration": "?"}
        outcome = _text(rollback.get("outcome"), "unknown")
        return {"to": _text(rollback.get("to"), "?"), "run": _text(rollback.get("run"), "?"), "outcome": outcome,
                "good": outcome == "deployed", "duration": duration(number(rollback.get("seconds")))}

    def view(self):
        header = self.header()
        timeline = self.timeline()
        view = {
            "header": header, "timeline": timeline, "outages": self.outage_rows(),
            "versions": self.version_rows(), "steps": self.gate_rows(), "rollback": self.rollback(),
        }
        view["notes"] = list(dict.fromkeys(self.notes))  # every note once, in the order met
        return view
