"""Read ``gerrit stream-events`` over SSH and hand on each event, normalised, once.

Configuration (master config, ``releasetrain:gerrit:stream``):

.. code-block:: yaml

    releasetrain:
      gerrit:
        stream:
          host: review.example.org
          port: 29418
          user: releasetrain
          key: /etc/salt/pki/master/gerrit_stream_ed25519   # private key file
          known_hosts: /etc/salt/pki/master/gerrit_known_hosts  # the server's key must be in it
          backoff_min: 1
          backoff_max: 60

The command is fixed (``gerrit stream-events``); nothing from an event is ever
sent back to the server or to a shell. After a reconnect Gerrit may repeat
events a client saw before the drop; the last ``remember`` event keys are kept
and repeats skipped.
"""

import collections
import logging
import threading
import time
from dataclasses import dataclass

from releasetrain.gerrit import events as gerrit
from releasetrain.errors import ReleaseTrainError

log = logging.getLogger(__name__)
COMMAND = "gerrit stream-events"
MAX_LINE = 1 << 20


@dataclass(frozen=True)
class StreamSettings:
    host: str
    user: str
    key: str
    known_hosts: str
    port: int = 29418
    backoff_min: float = 1
    backoff_max: float = 60
    connect_timeout: float = 30
    keepalive: int = 30
    remember: int = 2000


def stream_settings(config):
    section = ((config.raw or {}).get("gerrit") or {}).get("stream") or {}
    missing = [key for key in ("host", "user", "key", "known_hosts") if not section.get(key)]
    if missing:
        raise ReleaseTrainError(f"releasetrain:gerrit:stream needs {', '.join(missing)} to run stream-events")
    return StreamSettings(
        host=str(section["host"]), user=str(section["user"]), key=str(section["key"]),
        known_hosts=str(section["known_hosts"]), port=int(section.get("port", 29418)),
        backoff_min=float(section.get("backoff_min", 1)), backoff_max=float(section.get("backoff_max", 60)),
        connect_timeout=float(section.get("connect_timeout", 30)), keepalive=int(section.get("keepalive", 30)),
        remember=int(section.get("remember", 2000)),
    )


class RecentKeys:
    """The last ``size`` event keys, to skip what Gerrit repeats after a reconnect."""

    def __init__(self, size):
        self.size = size
        self._keys = collections.OrderedDict()

    def seen(self, key):
        if key in self._keys:
            return True
        self._keys[key] = None
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return False


class EventStream:
    """Connect, read one JSON event per line, fire accepted ones as ``<type>``; reconnect with backoff."""

    def __init__(self, settings, gerrit_settings, fire, stop=None, sleep=time.sleep, dropped=None):
        """``fire(type, event)`` hands an accepted event on; ``dropped(why, known)`` hears of the others
        (``known``: their type and key as far as they can be told)."""
        self.settings = settings
        self.gerrit = gerrit_settings
        self.fire = fire
        self.dropped = dropped or (lambda why, known: None)
        self.stop = stop or threading.Event()
        self.sleep = sleep
        self.recent = RecentKeys(settings.remember)
        self.connections = 0
        self.failures = 0

    def run(self):
        while not self.stop.is_set():
            delivered = 0
            try:
                delivered = self._session()
                log.warning("releasetrain: gerrit stream-events on %s ended; reconnecting", self.settings.host)
            except Exception as err:  # pylint: disable=broad-except
                log.warning("releasetrain: gerrit stream-events on %s:%s failed: %s: %s", self.settings.host,
                            self.settings.port, type(err).__name__, err)
            self.failures = 0 if delivered else self.failures + 1
            if not self.stop.is_set():
                self.sleep(self.delay())

    def delay(self):
        return min(self.settings.backoff_max, self.settings.backoff_min * (2 ** max(0, self.failures - 1)))

    def _session(self):
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(self.settings.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.settings.host, port=self.settings.port, username=self.settings.user,
                           key_filename=self.settings.key, look_for_keys=False, allow_agent=False,
                           timeout=self.settings.connect_timeout, banner_timeout=self.settings.connect_timeout,
                           auth_timeout=self.settings.connect_timeout)
            client.get_transport().set_keepalive(self.settings.keepalive)
            self.connections += 1
            _, stdout, _ = client.exec_command(COMMAND)
            stdout.channel.settimeout(1.0)
            return self._read(stdout)
        finally:
            client.close()

    def _read(self, stdout):
        import socket

        delivered, buffer = 0, b""
        while not self.stop.is_set():
            try:
                chunk = stdout.channel.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return delivered
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                delivered += self.handle(line)
            if len(buffer) > MAX_LINE:
                log.warning("releasetrain: dropped a stream-events line longer than %s bytes", MAX_LINE)
                buffer = b""
        return delivered

    def handle(self, line):
        """Fire one line's event; return 1 when the line was an event (even ignored), else 0."""
        if not line.strip():
            return 0
        event, why = gerrit.accept(line, self.gerrit)
        if event is None:
            log.info("releasetrain: gerrit stream event %s", why)
            self.dropped(why, gerrit.identify(line))
            return 1
        if self.recent.seen(event["key"]):
            log.info("releasetrain: skipped a repeated gerrit event %s", event["key"])
            return 1
        self.fire(event["type"], event)
        return 1
