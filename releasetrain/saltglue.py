"""What the thin Salt loader modules share: config, identity, events, error handling."""

import contextlib
import functools
import inspect
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


class ArgumentError(ReleaseTrainError):
    """A runner was called with a missing, unknown or malformed argument."""


# The checks a runner's parameters can carry as annotations (``def status(limit: positive_int = 20)``).
# Each takes the value salt-run parsed (YAML: ``2026.10`` arrives as the float 2026.1) and returns it
# checked, or raises ArgumentError with what is wrong, to follow "<runner>: <name> ".


def text(value):
    """One line of text: a release id, an environment, a path. A number, boolean or list is refused,
    never str()'d: salt-run reads an unquoted ``2026.10`` as the float 2026.1, ``010`` as 10."""
    if not isinstance(value, str):
        raise ArgumentError(
            f"must be text, but salt-run read it as the {type(value).__name__} {value!r}; "
            """quote it twice so YAML keeps what you typed, e.g. '"2026.10"'"""
        )
    if not value or not value.isprintable():
        raise ArgumentError(f"must be one line of printable text, not {value!r}")
    return value


def positive_int(value):
    """A whole number above zero, such as ``limit=50``."""
    if isinstance(value, str) and value.isdecimal():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ArgumentError(f"must be a positive integer, not {value!r}")
    return value


def flag(value):
    """True or False (``force=True``); anything else, such as ``force=maybe``, is refused."""
    if not isinstance(value, bool):
        raise ArgumentError(f"must be True or False, not {value!r}")
    return value


def mapping(value):
    """A dict, such as ``settings='{batch: 50%}'``."""
    if not isinstance(value, dict):
        raise ArgumentError(f"must be a mapping such as '{{batch: 50%}}', not {value!r}")
    return value


CHECKS = (text, positive_int, flag, mapping)


def runner_name(func):
    """``release.publish`` for a runner module's public function, ``release`` for a helper or lambda of it."""
    known = getattr(func, "__globals__", {})
    module = known.get("__virtualname__") or str(getattr(func, "__module__", "releasetrain")).rsplit(".", 1)[-1]
    name = getattr(func, "__name__", "_")
    if name.startswith(("_", "<")):
        return module
    return f"{module}.{known.get('__func_alias__', {}).get(name, name)}"


def _as_typed(key):
    """An argument name as typed when it is a plain name; quoted, escapes and all, when it is not."""
    return key if key.isidentifier() else repr(key)


def _bind(name, func, args, kwargs):
    """``args`` and ``kwargs`` bound to ``func``'s parameters and checked, or ArgumentError naming what is wrong.

    Keys starting with ``__`` are Salt's own (``__pub_user``...), passed to any function taking
    ``**kwargs``; a required parameter given as None (``release=null``, an absent pillar key) is
    missing; a parameter annotated with one of ``CHECKS`` is checked by it."""
    signature = inspect.signature(func, eval_str=True)
    params = signature.parameters
    kwargs = {key: value for key, value in kwargs.items() if not key.startswith("__")}
    takes_any = any(param.kind is param.VAR_KEYWORD for param in params.values())
    named = [param.name for param in params.values() if param.kind is param.POSITIONAL_OR_KEYWORD]
    takes = f"it takes {', '.join(named) or 'no arguments'}"
    unknown = [key for key in kwargs if key not in named and not takes_any]
    if unknown:
        raise ArgumentError(f"{name}: unknown argument{'s' * (len(unknown) > 1)} "
                            f"{', '.join(_as_typed(key) + '=' for key in unknown)} ({takes})")
    if len(args) > len(named):
        extra = ", ".join(repr(arg) for arg in args[len(named):])
        raise ArgumentError(f"{name}: too many arguments: {extra} ({takes})")
    twice = [param for param, _ in zip(named, args) if param in kwargs]
    if twice:
        raise ArgumentError(f"{name}: {twice[0]} given twice, as an argument and as {twice[0]}=")
    bound = signature.bind_partial(*args, **kwargs)
    missing = [f"{param}={param.upper()}" for param in named
               if params[param].default is params[param].empty and bound.arguments.get(param) is None]
    if missing:
        raise ArgumentError(f"{name}: missing argument{'s' * (len(missing) > 1)} {' '.join(missing)}")
    for param in named:
        check = params[param].annotation
        if check in CHECKS and bound.arguments.get(param) is not None:
            try:
                bound.arguments[param] = check(bound.arguments[param])
            except ArgumentError as err:
                raise ArgumentError(f"{name}: {param} {err}") from None
    return bound


@contextlib.contextmanager
def _off_the_console():
    """Log to the master's log file, not to salt-run's stderr: the failure is already its one line on stdout.

    Console and log file have the same level by default, so only the handler tells them apart;
    ``get_console_handler`` is in Salt's internal ``salt._logging`` (None when Salt set up no console).
    """
    try:
        import salt._logging

        console = salt._logging.get_console_handler()
    except (ImportError, AttributeError):  # another Salt version: a second copy on stderr is all it costs
        console = None
    if console is None:
        yield
        return

    def drop_ours(record):
        return record.name != log.name

    console.addFilter(drop_ours)
    try:
        yield
    finally:
        console.removeFilter(drop_ours)


def _failed(context, message):
    context["retcode"] = 1
    return {"error": " ".join(str(message).split()), "retcode": 1, "outputter": "releasetrain"}


def run(context, func, *args, **kwargs):
    """Call ``func`` with its arguments checked; any failure is a failed job with one line.

    ``salt-run`` exits 0 after printing the docstring when a runner is called with a missing
    or unknown argument or raises ``SaltInvocationError``, and dumps a traceback for other
    exceptions; a dict carrying ``retcode`` makes it exit non-zero and print just the message.
    A ReleaseTrainError is the operator's problem and its message is the line; anything else
    is a bug: the line names the runner and the error, the master's log keeps the traceback.
    """
    name = runner_name(func)
    try:
        bound = _bind(name, func, args, kwargs)
        return func(*bound.args, **bound.kwargs)
    except ReleaseTrainError as err:
        with _off_the_console():
            log.error("releasetrain: %s", err)
        return _failed(context, err)
    except Exception as err:  # pylint: disable=broad-except
        message = f"{name}: unexpected {type(err).__name__}: {err} (a bug; the master's log has the traceback)"
        with _off_the_console():
            log.exception("releasetrain: %s", message)
        return _failed(context, message)


def runner(func):
    """Make ``func`` a runner that ``run`` calls: a missing, unknown or malformed argument
    (see ``CHECKS``) and any failure exit 1 with one line.

    Salt checks argument names against the signature it finds by following ``__wrapped__``
    and prints the docstring with exit 0 on a mismatch, so the function it loads takes
    ``*args, **kwargs`` and has no ``__wrapped__``; ``run`` checks them against ``func``'s
    own signature, kept as ``runner_signature``.
    """

    @functools.wraps(func)
    def call(*args, **kwargs):
        return run(func.__globals__["__context__"], func, *args, **kwargs)

    del call.__wrapped__
    call.runner_signature = inspect.signature(func)
    return call
