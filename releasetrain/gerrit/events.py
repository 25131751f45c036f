"""Gerrit events in, votes out: normalise, validate, filter, authenticate, review.

Both ways events arrive (the webhooks plugin POSTing to salt-api, ``gerrit
stream-events`` over SSH) carry the same JSON; :func:`normalise` turns one into
a flat, validated dict, the only shape the pipeline ever sees. Nothing from an
event reaches a shell: the pipeline passes these values to git (GitPython, as
arguments), to Salt (as pillar data) and to Gerrit's REST API (URL-quoted).

Configuration (master config):

.. code-block:: yaml

    releasetrain:
      gerrit:
        secret: LONG-RANDOM-STRING       # shared with the webhook URL or header
        secret_header: X-Releasetrain-Secret   # optional; else the last path element of the hook
        projects:
          salt/openstack-formula: {repo: openstack-formula, branches: [master]}
        rest: {url: https://review.example.org, user: releasetrain, password: HTTP-PASSWORD}
        approval: {label: Release-Approval, value: 1}
"""

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from releasetrain.errors import ReleaseTrainError

log = logging.getLogger(__name__)

# Matched with fullmatch only (``re.match`` with ``$`` lets "master\n" through); digits are
# ASCII only (``\d`` takes any Unicode digit, and int() reads "١٢٣٤٥" as 12345).
SHA_RE = re.compile(r"[0-9a-f]{40}")
# Conservative: what real Gerrit project and branch names use, minus anything a shell or a path could abuse.
PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")
BRANCH_RE = PROJECT_RE
CHANGE_REF_RE = re.compile(r"refs/changes/([0-9]{2})/([1-9][0-9]{0,9})/([1-9][0-9]{0,5})")
CHANGE_ID_RE = re.compile(r"I[0-9a-f]{40}")
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TYPE_RE = re.compile(r"[a-z][a-z-]{0,39}")
NUMBER_RE = re.compile(r"-?[0-9]{1,12}")
WHO_UNSAFE_RE = re.compile(r"[^A-Za-z0-9@._ +-]")  # what a user name keeps of itself in votes and records
WHO_RE = re.compile(r"[A-Za-z0-9@._ +?-]{0,100}")
EVENT_KEY_RE = re.compile(r"[ -~]{1,8000}")  # printable ASCII: see event_key
KNOWN_TYPES = ("patchset-created", "change-merged", "comment-added", "ref-updated")
MAX_NAME = 255
MAX_BODY = 1 << 20


class GerritEventError(ReleaseTrainError):
    """An event that is malformed or hostile; ``str()`` says what is wrong with it.

    ``field`` names what was refused (``body``, ``event``, or a field as the message names it:
    ``project``, ``patchSet.revision``...) and ``guard`` the check that refused it: ``size``,
    ``utf-8``, ``json``, ``object``, ``type``, ``known-type``, ``name``, ``number``, ``range``,
    ``sha``, ``change-id``, ``who``, ``event-key``, ``text``, ``change-ref``, ``ref-owner``,
    ``agree``, ``approvals``, ``label``, ``missing``, ``key-match``.
    """

    def __init__(self, message, field=None, guard=None):
        super().__init__(message)
        self.field = field
        self.guard = guard


@dataclass(frozen=True)
class ProjectRule:
    repo: str
    branches: tuple = ("master",)


@dataclass(frozen=True)
class GerritSettings:
    secret: str = ""
    secret_header: str = ""
    projects: dict = field(default_factory=dict)
    rest_url: str = ""
    rest_user: str = ""
    rest_password: str = ""
    rest_timeout: float = 30
    approval_label: str = "Release-Approval"
    approval_value: int = 1
    verified_label: str = "Verified"
    raw: dict = field(default_factory=dict, compare=False)


def settings(config):
    """GerritSettings from a :class:`releasetrain.config.Config` (``releasetrain:gerrit``)."""
    section = (config.raw or {}).get("gerrit") or {}
    if not isinstance(section, Mapping):
        raise ReleaseTrainError("releasetrain:gerrit must be a mapping")
    projects = {}
    for name, rule in (section.get("projects") or {}).items():
        rule = rule or {}
        if not isinstance(name, str) or not PROJECT_RE.fullmatch(name) or not isinstance(rule, Mapping) or not rule.get("repo"):
            raise ReleaseTrainError(
                f"releasetrain:gerrit:projects:{name!r} needs a valid project name and a 'repo' from the manifest"
            )
        branches = rule.get("branches") or ["master"]
        projects[name] = ProjectRule(repo=str(rule["repo"]), branches=tuple(str(b) for b in branches))
    rest = section.get("rest") or {}
    approval = section.get("approval") or {}
    return GerritSettings(
        secret=str(section.get("secret") or ""),
        secret_header=str(section.get("secret_header") or ""),
        projects=projects,
        rest_url=str(rest.get("url") or "").rstrip("/"),
        rest_user=str(rest.get("user") or ""),
        rest_password=str(rest.get("password") or ""),
        rest_timeout=float(rest.get("timeout", 30)),
        approval_label=str(approval.get("label", "Release-Approval")),
        approval_value=int(approval.get("value", 1)),
        verified_label=str(section.get("verified_label", "Verified")),
        raw=section,
    )


# -- authentication -------------------------------------------------------------
def secret_matches(given, expected):
    """Constant-time comparison; no configured secret means nothing matches."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def hook_secret(tag, headers, gerrit_settings):
    """The secret a salt-api hook event carries: a header if configured, else the tag's last element."""
    if gerrit_settings.secret_header:
        wanted = gerrit_settings.secret_header.lower()
        for name, value in (headers.items() if isinstance(headers, Mapping) else ()):
            if isinstance(name, str) and name.lower() == wanted:
                return value if isinstance(value, str) else ""
        return ""
    return str(tag or "").rstrip("/").rsplit("/", 1)[-1]


def sign(event, secret):
    """An HMAC of a normalised event, so the pipeline can tell our events from others on the bus."""
    body = json.dumps({k: v for k, v in event.items() if k != "signature" and not k.startswith("_")}, sort_keys=True)
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def signature_valid(event, secret):
    return bool(secret) and isinstance(event.get("signature"), str) and hmac.compare_digest(
        event["signature"], sign(event, secret)
    )


# -- parsing and normalising -------------------------------------------------------
def parse_body(body):
    """The event dict from a hook body (bytes, str or an already parsed dict)."""
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        if len(body) > MAX_BODY:
            raise GerritEventError(f"body of {len(body)} bytes is larger than {MAX_BODY}", "body", "size")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise GerritEventError("body is not UTF-8", "body", "utf-8") from err
    if not isinstance(body, str) or not body.strip():
        raise GerritEventError("empty body; expected a Gerrit event as JSON", "body", "json")
    if len(body) > MAX_BODY:
        raise GerritEventError(f"body of {len(body)} characters is larger than {MAX_BODY}", "body", "size")
    try:
        data = json.loads(body)
    except ValueError as err:
        raise GerritEventError(f"body is not JSON ({err.msg} at position {err.pos})", "body", "json") from err
    if not isinstance(data, dict):
        raise GerritEventError("body must be a JSON object", "body", "object")
    return data


def _mapping(data, key, required=True):
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise GerritEventError(f"field {key!r} must be an object", key, "object")
    return value


def _name(value, what, pattern):
    if isinstance(value, dict):  # older Gerrit versions: {"name": ...}
        value = value.get("name")
    if not isinstance(value, str) or not value or len(value) > MAX_NAME or not pattern.fullmatch(value) or ".." in value:
        raise GerritEventError(f"{what} {_show(value)} is not a valid name", what, "name")
    return value


def _sha(value, what):
    return _checked(value, what, SHA_RE, "a 40-hex commit SHA", "sha")


def _int(value, what, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GerritEventError(f"{what} {_show(value)} is not a number", what, "number")
    if isinstance(value, str):
        if not NUMBER_RE.fullmatch(value):
            raise GerritEventError(f"{what} {_show(value)} is not a number", what, "number")
        value = int(value)
    if value < minimum or value > 10**12:
        raise GerritEventError(f"{what} {value} is out of range", what, "range")
    return value


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _branch(value):
    if isinstance(value, str) and value.startswith("refs/heads/"):
        value = value[len("refs/heads/"):]
    return _name(value, "branch", BRANCH_RE)


def normalise(data):
    """A flat, validated event from Gerrit's JSON; GerritEventError says what is wrong.

    Keys: type, project, branch, change (number), change_id, patchset, revision,
    ref, new_rev, created (eventCreatedOn), approvals ({label: value}), who, key.
    """
    if not isinstance(data, dict):
        raise GerritEventError("event must be a JSON object", "event", "object")
    kind = data.get("type")
    if not isinstance(kind, str) or not TYPE_RE.fullmatch(kind):
        raise GerritEventError(f"type {_show(kind)} is not a Gerrit event type", "type", "type")
    if kind not in KNOWN_TYPES:
        raise GerritEventError(f"type {kind!r} is not one of {', '.join(KNOWN_TYPES)}", "type", "known-type")
    created = _int(data.get("eventCreatedOn"), "eventCreatedOn", minimum=0) if "eventCreatedOn" in data else 0
    event = {"type": kind, "created": created}
    if kind == "ref-updated":
        update = _mapping(data, "refUpdate")
        event.update(
            project=_name(update.get("project", data.get("project")), "project", PROJECT_RE),
            branch=_branch(update.get("refName")),
            new_rev=_sha(update.get("newRev"), "refUpdate.newRev"),
            old_rev=_sha(update.get("oldRev"), "refUpdate.oldRev"),
        )
        event["who"] = _who(data.get("submitter"))
    else:
        change = _mapping(data, "change")
        patchset = _mapping(data, "patchSet")
        project = _name(change.get("project", data.get("project")), "project", PROJECT_RE)
        top = data.get("project")
        if top is not None and _name(top, "project", PROJECT_RE) != project:
            raise GerritEventError("project and change.project disagree", "project", "agree")
        number = _int(change.get("number"), "change.number")
        ps_number = _int(patchset.get("number"), "patchSet.number")
        ref = _change_ref(patchset.get("ref"), number, ps_number, "patchSet.ref")
        change_id = change.get("id")
        event.update(
            project=project,
            branch=_branch(change.get("branch")),
            change=number,
            change_id=_change_id(change_id, "change.id") if change_id is not None else "",
            patchset=ps_number,
            revision=_sha(patchset.get("revision"), "patchSet.revision"),
            ref=ref,
        )
        if kind == "change-merged":
            event["new_rev"] = _sha(data.get("newRev"), "newRev") if "newRev" in data else event["revision"]
        if kind == "comment-added":
            event["approvals"] = _approvals(data.get("approvals"))
        account = {"patchset-created": "uploader", "change-merged": "submitter", "comment-added": "author"}[kind]
        event["who"] = _who(data.get(account))
    event["key"] = event_key(event)
    return event


def _change_ref(ref, number, ps_number, what):
    match = CHANGE_REF_RE.fullmatch(ref) if isinstance(ref, str) else None
    if not match:
        raise GerritEventError(f"{what} {_show(ref)} is not refs/changes/NN/CHANGE/PATCHSET", what, "change-ref")
    if int(match.group(2)) != number or int(match.group(3)) != ps_number or match.group(1) != f"{number % 100:02d}":
        raise GerritEventError(f"{what} {ref!r} does not belong to change {number} patch set {ps_number}", what, "ref-owner")
    return ref


def _change_id(value, what):
    return _checked(value, what, CHANGE_ID_RE, "a Change-Id", "change-id")


def _text(check):
    """``check`` for a field of a normalised event, which holds plain text (never Gerrit's ``{"name": ...}``)."""
    return lambda value, what: check(value if isinstance(value, str) else None, what)


def _checked(value, what, pattern, meaning, guard):
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise GerritEventError(f"{what} {_show(value)} is not {meaning}", what, guard)
    return value


def _plain_text(value, what):
    if not isinstance(value, str):
        raise GerritEventError(f"{what} {_show(value)} is not text", what, "text")
    return value


def _flat_approvals(value, what):
    if not isinstance(value, dict) or len(value) > 50:
        raise GerritEventError(f"{what} must be a mapping of labels to votes", what, "approvals")
    for label, vote in value.items():
        if not isinstance(label, str) or not LABEL_RE.fullmatch(label):
            raise GerritEventError(f"approval label {_show(label)} is not a label name", what, "label")
        _int(vote, f"approval {label}", minimum=-100)
    return dict(value)


#: Each key of a normalised event and the check that :func:`normalise` made of it, by event type.
_NORMALISED_FIELDS = {
    None: {"created": lambda value, what: _int(value, what, minimum=0),
           "project": _text(lambda value, what: _name(value, what, PROJECT_RE)),
           "branch": _text(lambda value, what: _name(value, what, BRANCH_RE)),
           "who": lambda value, what: _checked(value, what, WHO_RE, "a user name as normalise keeps it", "who"),
           "key": lambda value, what: _checked(value, what, EVENT_KEY_RE, "an event key", "event-key")},
    "ref-updated": {"new_rev": _sha, "old_rev": _sha},
    "patchset-created": {"change": _int, "patchset": _int, "revision": _sha, "ref": _plain_text,
                         "change_id": lambda value, what: value if value == "" else _change_id(value, what)},
}
_NORMALISED_FIELDS["change-merged"] = {**_NORMALISED_FIELDS["patchset-created"], "new_rev": _sha}
_NORMALISED_FIELDS["comment-added"] = {**_NORMALISED_FIELDS["patchset-created"], "approvals": _flat_approvals}


def check_normalised(event):
    """An event :func:`normalise` made, checked again field by field with normalise's own checks:
    it came back over the master's bus, where anything can claim to be one. Returns the event with
    just the keys normalise gives (``repo`` and ``signature`` are dropped), or raises GerritEventError.
    """
    if not isinstance(event, dict):
        raise GerritEventError("event must be a mapping", "event", "object")
    kind = event.get("type")
    if kind not in KNOWN_TYPES:
        raise GerritEventError(f"type {_show(kind)} is not one of {', '.join(KNOWN_TYPES)}", "type", "known-type")
    checks = {**_NORMALISED_FIELDS[None], **_NORMALISED_FIELDS[kind]}
    missing = [key for key in checks if key not in event]
    if missing:
        raise GerritEventError(f"field {missing[0]!r} is missing", missing[0], "missing")
    flat = {"type": kind, **{key: check(event[key], key) for key, check in checks.items()}}
    if kind != "ref-updated":
        _change_ref(flat["ref"], flat["change"], flat["patchset"], "ref")
    if flat["key"] != event_key(flat):
        raise GerritEventError("key does not match the event", "key", "key-match")
    return flat


def _approvals(value):
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > 50:
        raise GerritEventError("approvals must be a list", "approvals", "approvals")
    result = {}
    for item in value:
        if not isinstance(item, dict):
            raise GerritEventError("approvals must be a list of objects", "approvals", "approvals")
        label = item.get("type")
        if not isinstance(label, str) or not LABEL_RE.fullmatch(label):
            raise GerritEventError(f"approval label {_show(label)} is not a label name", "approvals", "label")
        result[label] = _int(item.get("value"), f"approval {label}", minimum=-100)
    return result


def _who(account):
    if not isinstance(account, dict):
        return ""
    for key in ("username", "email", "name"):
        value = account.get(key)
        if isinstance(value, str) and value:
            return WHO_UNSAFE_RE.sub("?", value)[:100]
    return ""


def event_key(event):
    """What identifies an event across a reconnect: type, change, patch set, creation time."""
    parts = [event["type"], event["project"], str(event.get("change", "")), str(event.get("patchset", "")),
             event.get("new_rev", ""), str(event.get("created", 0))]
    if event["type"] == "comment-added":
        parts.append(json.dumps(event.get("approvals", {}), sort_keys=True))
    return "|".join(parts)


def identify(data):
    """``{"type": ..., "key": ...}`` of an event, as far as they can be told and pass the checks (for the
    record of a dropped event); ``data`` is Gerrit's JSON (text, bytes or parsed) or a normalised event.
    Never raises."""
    try:
        data = parse_body(data)
    except GerritEventError:
        return {}
    kind = data.get("type")
    found = {"type": kind} if isinstance(kind, str) and TYPE_RE.fullmatch(kind) else {}
    try:
        found["key"] = normalise(data)["key"]
    except GerritEventError:
        key = data.get("key")
        if isinstance(key, str) and key.isascii() and key.isprintable() and len(key) <= MAX_NAME:
            found["key"] = key
    return found


# -- filtering ----------------------------------------------------------------------
def route(event, gerrit_settings):
    """The manifest repo an event concerns, or None (with the reason) when configuration ignores it."""
    rule = gerrit_settings.projects.get(event["project"])
    if rule is None:
        return None, f"project {event['project']!r} is not configured"
    if event["branch"] not in rule.branches:
        return None, f"branch {event['branch']!r} of {event['project']!r} is not configured"
    return rule.repo, ""


def accept(data, gerrit_settings):
    """Parse, normalise, filter and sign: ``(event, None)`` or ``(None, reason)``; never raises on bad input."""
    try:
        event = normalise(parse_body(data))
    except GerritEventError as err:
        return None, f"rejected: {err}"
    repo, why = route(event, gerrit_settings)
    if repo is None:
        return None, f"ignored: {why}"
    event["repo"] = repo
    if gerrit_settings.secret:
        event["signature"] = sign(event, gerrit_settings.secret)
    return event, None


# -- votes ------------------------------------------------------------------------
def review_url(gerrit_settings, event):
    change = quote(f"{event['project']}~{event['change']}", safe="")
    return f"{gerrit_settings.rest_url}/a/changes/{change}/revisions/{event['revision']}/review"


def post_review(gerrit_settings, event, verified, message):
    """POST a review with the Verified label (none when ``verified`` is None: a message only);
    raise ReleaseTrainError when Gerrit refuses it."""
    import requests

    if not gerrit_settings.rest_url:
        raise ReleaseTrainError("releasetrain:gerrit:rest:url is not set; cannot post the vote")
    body = {"message": message, "labels": {} if verified is None else {gerrit_settings.verified_label:
                                                                         1 if verified else -1}}
    try:
        response = requests.post(
            review_url(gerrit_settings, event),
            json=body,
            auth=(gerrit_settings.rest_user, gerrit_settings.rest_password),
            timeout=gerrit_settings.rest_timeout,
        )
    except requests.RequestException as err:
        raise ReleaseTrainError(f"Gerrit review POST failed: {type(err).__name__}: {err}") from err
    if response.status_code >= 300:
        raise ReleaseTrainError(f"Gerrit refused the review: HTTP {response.status_code} {response.text[:200]}")
    return {"status": response.status_code, "labels": body["labels"]}
