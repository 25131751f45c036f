"""What the thin Salt loader modules share: config, identity, events, error handling."""

import logging
import socket

from releasetrain import config as rt_config
from releasetrain.errors import ReleaseTrainError

log = logging.getLogger(__name__)


def load_config(opts):
    return rt_config.load(opts)


def who(opts, by=None):
    """Who acts, for the history: an explicit ``by`` or user@host."""
    if by:
        return str(by)
    import salt.utils.user

    return f"{salt.utils.user.get_specific_user()}@{socket.gethostname()}"


def local_client(opts):
    """A LocalClient for a runner, with the key of the user the master runs as.

    ``state.orchestrate`` puts its caller's name in ``opts["user"]``, and LocalClient reads
    ``.<that user>_key``: under the reactor the caller is "Reactor", which has no key, so every
    command of an orchestration the reactor started (the Gerrit pipeline's deployments) failed
    to authenticate. Salt does the same check before it drops privileges (saltutil, #69600).
    """
    import pwd

    import salt.client
    import salt.utils.user

    try:
        pwd.getpwnam(str(opts.get("user") or "root"))
    except KeyError:
        opts = {**opts, "user": salt.utils.user.get_user()}
    return salt.client.get_local_client(mopts=opts)


class MasterEvents:
    """Fire events on the master bus under ``prefix``; a master that is not running is not an error."""

    def __init__(self, opts, prefix):
        self.opts = opts
        self.prefix = prefix.rstrip("/")
        self._event = None
        self._down = False

    def __call__(self, tag, data):
        if self._down:
            return
        try:
            if self._event is None:
                import salt.utils.event

                self._event = salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=False)
            if not self._event.fire_event(data, f"{self.prefix}/{tag}", timeout=500):
                self._down = True
        except Exception as err:  # pylint: disable=broad-except
            log.debug("releasetrain: no master event bus (%s); events off for this run", err)
            self._down = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._event is not None:
            self._event.destroy()


def refresh_fileserver(opts, env):
    """After a switch, drop the master's cached roots file list of ``env`` so the new tree is served at once."""
    try:
        import salt.fileserver

        fileserver = salt.fileserver.Fileserver(opts)
        fileserver.update(back=["roots"])
        fileserver.clear_file_list_cache({"fsbackend": ["roots"], "saltenv": [env]})
    except Exception as err:  # pylint: disable=broad-except
        log.warning("releasetrain: could not refresh the roots fileserver cache: %s", err)


def run(context, func, *args, **kwargs):
    """Call ``func``; turn a ReleaseTrainError into a failed job with one line.

    ``salt-run`` exits 0 when a runner raises ``SaltInvocationError`` and dumps a
    traceback for other exceptions; a dict carrying ``retcode`` makes it exit
    non-zero and print just the message.
    """
    try:
        return func(*args, **kwargs)
    except ReleaseTrainError as err:
        log.error("releasetrain: %s", err)
        context["retcode"] = 1
        return {"error": str(err), "retcode": 1, "outputter": "releasetrain"}
