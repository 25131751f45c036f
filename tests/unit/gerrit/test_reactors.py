"""The reactor SLS files rendered by Salt's own reactor machinery: whatever a Gerrit event's strings
hold, the runner gets exactly the tag and data the event carried."""

import json
import pathlib

import pytest
import salt.config
import salt.utils.data
import salt.utils.reactor

from tests.unit.gerrit.hostile_text import PIECES, hook_body, hostile_strings, with_hostile_strings

REACTOR = pathlib.Path(__file__).parents[3] / "reactor"
FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"
SEED = 20261203
KINDS = ("patchset-created", "change-merged", "comment-added", "ref-updated")


@pytest.fixture(scope="module")
def reactor(tmp_path_factory):
    root = tmp_path_factory.mktemp("reactor")
    overrides = {"root_dir": str(root), "cachedir": str(root / "cache"), "sock_dir": str(root / "sock"),
                 "pki_dir": str(root / "pki"), "log_file": str(root / "master.log"),
                 "file_roots": {"base": [str(root)]}, "pillar_roots": {"base": [str(root)]}}
    return salt.utils.reactor.Reactor(salt.config.apply_master_config(overrides, salt.config.DEFAULT_MASTER_OPTS.copy()))


def runner_calls(reactor, sls, tag, data):
    """(function, keyword arguments) of each runner call the reactor would make, as ReactWrap builds them."""
    chunks = reactor.reactions(tag, data, [str(REACTOR / sls)])
    return [(chunk["fun"], salt.utils.data.repack_dictlist(chunk["args"])) for chunk in chunks
            if chunk["state"] == "runner"]


def hostile_hook(kind, strings, raw_utf8):
    """What salt-api fires for a webhook: the raw body, its parsed JSON and the headers."""
    payload = with_hostile_strings(json.loads((FIXTURES / f"{kind}.json").read_text()), strings)
    body = hook_body(payload, raw_utf8).decode("utf-8")
    return {"body": body, "post": json.loads(body), "headers": {"Content-Type": "application/json",
                                                                 "User-Agent": strings[1]}}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("raw_utf8", [False, True], ids=["ascii-escaped", "utf8"])
def test_the_hook_reactor_passes_any_event_unchanged(reactor, kind, raw_utf8):
    strings = hostile_strings(SEED + KINDS.index(kind), 8)
    tag = "salt/netapi/hook/gerrit/" + strings[2]
    hook = hostile_hook(kind, strings, raw_utf8)
    assert runner_calls(reactor, "gerrit_hook.sls", tag, hook) == [
        ("pipeline.handle_hook", {"tag": tag, "data": hook})], f"seed {SEED + KINDS.index(kind)}"


def test_the_hostile_strings_hold_every_piece():
    joined = "".join(hostile_strings(SEED, 8))
    assert all(piece in joined for piece in PIECES)


def test_the_event_reactor_passes_any_event_unchanged(reactor):
    """A normalised event holds only checked values, but anything on the bus may claim to be one:
    on_event must get it, whatever it holds, to check its signature and say why it drops it."""
    strings = hostile_strings(SEED, 12)
    event = {"type": "patchset-created", "project": strings[0], "who": strings[1], "signature": strings[2],
             strings[3]: [strings[4], {strings[5]: strings[6]}], "_stamp": strings[7]}
    assert runner_calls(reactor, "gerrit_event.sls", "releasetrain/gerrit/patchset-created", event) == [
        ("pipeline.on_event", {"event": event})]
