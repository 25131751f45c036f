"""
Fire Gerrit's ``stream-events`` on the master bus as ``releasetrain/gerrit/<type>``.

Configuration: ``releasetrain:gerrit:stream`` (see ``releasetrain/gerrit/stream.py``)
and ``releasetrain:gerrit:projects``; enable with

.. code-block:: yaml

    engines:
      - gerrit_stream: {}
"""

import logging
import time

from releasetrain import saltglue
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit import stream as gerrit_stream
from releasetrain.gerrit import pipeline as rt_pipeline
from releasetrain.errors import ReleaseTrainError

log = logging.getLogger(__name__)

__virtualname__ = "gerrit_stream"
MISCONFIGURED_RETRY = 300


def __virtual__():
    try:
        import paramiko  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        return False, "gerrit_stream needs paramiko"
    return __virtualname__


def start():
    import salt.utils.event

    try:
        config = saltglue.load_config(__opts__)
        settings = gerrit_stream.stream_settings(config), gerrit.settings(config)
    except ReleaseTrainError as err:
        log.error("releasetrain: gerrit_stream engine not started: %s", err)
        time.sleep(MISCONFIGURED_RETRY)  # Salt restarts an engine that returns; do not spin
        return
    bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False)

    def fire(kind, event):
        bus.fire_event(event, f"releasetrain/gerrit/{kind}")

    try:
        gerrit_stream.EventStream(*settings, fire, dropped=_recorder(config)).run()
    finally:
        bus.destroy()


def _recorder(config):
    """Record a stream event of ours that was rejected (``pipeline.status`` shows it). stream-events
    carries every kind of event of every project: other types and unconfigured projects are only logged."""
    pipeline = rt_pipeline.Pipeline(config, orchestrate=None)

    def dropped(why, known):
        if not why.startswith("rejected") or known.get("type") not in (None, *gerrit.KNOWN_TYPES):
            return
        try:
            pipeline.write_rejected("stream", "rejected", why, known)
        except Exception as err:  # pylint: disable=broad-except
            log.warning("releasetrain: could not record a rejected stream event: %s", err)

    return dropped
