"""API availability during a deploy: every service endpoint asked once a second, its outage windows kept.

An endpoint is up while it answers HTTP with a status below 500: keystone's version list (300), a 401
for a request without a token and a 404 all mean the API process answered.  A refused connection, a
timeout or a 5xx is down.  Each service is asked from a thread of its own, so one that hangs until its
timeout does not slow the others' once-a-second rhythm.

``report()`` gives, per service, how often it was asked and its outage windows (wall-clock start and
end, and seconds measured on the monotonic clock, to the probe's resolution: the interval); a window
still open when it is read has ``end: None``.  ``over_limit`` compares a report with ``max_api_outage``.
"""

import datetime
import numbers
import threading
import time

import requests

from releasetrain.errors import ReleaseTrainError


def _wall():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def http_up(url, timeout):
    """True when ``url`` answers HTTP with a status below 500."""
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        return False
    response.close()
    return response.status_code < 500


class ApiProbe:
    """Ask each endpoint of ``endpoints`` (service -> URL) every ``interval`` seconds between
    :meth:`start` and :meth:`stop`; ``up(url, timeout)`` does the asking (:func:`http_up`)."""

    def __init__(self, endpoints, interval=1.0, timeout=None, up=http_up, clock=time.monotonic, wall=_wall):
        if not endpoints:
            raise ReleaseTrainError("the API probe needs at least one endpoint")
        self.endpoints = dict(endpoints)
        self.interval = float(interval)
        self.timeout = float(timeout or max(self.interval, 1.0))
        self._up, self._clock, self._wall = up, clock, wall
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._asked = dict.fromkeys(self.endpoints, 0)
        self._windows = {service: [] for service in self.endpoints}
        self._down_since = {}  # service -> (monotonic, wall) of its first failed answer

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        for service, url in sorted(self.endpoints.items()):
            thread = threading.Thread(target=self._watch, args=(service, url), name=f"api-probe-{service}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        """Stop asking; a service still down keeps its window open (``end: None``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + self.interval + 5)

    def _watch(self, service, url):
        due = self._clock()
        while not self._stop.is_set():
            self.observe(service, self._up(url, self.timeout))
            due += self.interval
            self._stop.wait(max(0.0, due - self._clock()))

    def observe(self, service, up):
        """Record one answer of ``service``: up or down, now."""
        mono, wall = self._clock(), self._wall()
        with self._lock:
            self._asked[service] += 1
            if not up and service not in self._down_since:
                self._down_since[service] = (mono, wall)
            elif up and service in self._down_since:
                started, started_wall = self._down_since.pop(service)
                self._windows[service].append(
                    {"start": started_wall, "end": wall, "seconds": round(mono - started, 1)}
                )

    def report(self):
        """service -> {asked, windows, down_seconds, longest}; open windows count up to now."""
        now = self._clock()
        result = {}
        with self._lock:
            for service in sorted(self.endpoints):
                windows = list(self._windows[service])
                if service in self._down_since:
                    started, started_wall = self._down_since[service]
                    windows.append({"start": started_wall, "end": None, "seconds": round(now - started, 1)})
                result[service] = {
                    "url": self.endpoints[service],
                    "asked": self._asked[service],
                    "windows": windows,
                    "down_seconds": round(sum(window["seconds"] for window in windows), 1),
                    "longest": max((window["seconds"] for window in windows), default=0.0),
                }
        return result


def check_limit(value, key="max_api_outage"):
    """``value`` as {service or "*": seconds}: a number applies to every service; one line names a bad one."""
    def seconds(item, where):
        if isinstance(item, bool) or not isinstance(item, numbers.Real) or item < 0 or item != item:
            raise ReleaseTrainError(f"{where} must be a number of seconds, 0 or more, not {item!r}")
        return float(item)

    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(service): seconds(item, f"{key}:{service}") for service, item in value.items()}
    return {"*": seconds(value, key)}


def over_limit(report, limits):
    """``(service, longest outage, limit)`` for each service down longer than its limit (``check_limit``'s shape)."""
    found = []
    for service, seen in sorted(report.items()):
        limit = limits.get(service, limits.get("*"))
        if limit is not None and seen["longest"] > limit:
            found.append((service, seen["longest"], limit))
    return found
