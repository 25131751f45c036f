"""Gerrit events: recorded JSON in, one normalised shape out; hostile input refused."""

import json
import pathlib

import pytest

from releasetrain import config as rt_config
from releasetrain.gerrit import events as gerrit
from releasetrain.errors import ReleaseTrainError

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"
REVISION = "b59138869113bfd9d3e7fbf9439d74e1ae6c54b8"


def recorded(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def settings():
    config = rt_config.load({"releasetrain": {"gerrit": {
        "secret": "s3cret-s3cret",
        "projects": {"salt/openstack-formula": {"repo": "openstack-formula", "branches": ["master"]}},
        "rest": {"url": "http://127.0.0.1:1/", "user": "rt", "password": "pw"},
    }}})
    return gerrit.settings(config)


def test_patchset_created_is_normalised():
    event = gerrit.normalise(recorded("patchset-created.json"))
    assert {k: event[k] for k in ("type", "project", "branch", "change", "patchset", "revision", "ref", "who")} == {
        "type": "patchset-created", "project": "salt/openstack-formula", "branch": "master", "change": 12345,
        "patchset": 3, "revision": REVISION, "ref": "refs/changes/45/12345/3", "who": "alice"}
    assert event["change_id"] == "Ie10fd901201c53e9fe3b9766343060763ac81dc6"


def test_change_merged_takes_new_rev_not_the_patchset_revision():
    event = gerrit.normalise(recorded("change-merged.json"))
    assert event["new_rev"] == "863b64002f2a9922deba69407804a44703c996e0"
    assert event["revision"] == REVISION and event["who"] == "bob"


def test_project_as_object_gives_the_same_event():
    plain = gerrit.normalise(recorded("patchset-created.json"))
    legacy = gerrit.normalise(recorded("patchset-created-project-object.json"))
    assert plain == legacy


def test_comment_added_carries_votes_as_numbers():
    event = gerrit.normalise(recorded("comment-added.json"))
    assert event["approvals"] == {"Code-Review": 2, "Release-Approval": 1, "Verified": 1}
    assert event["who"] == "carol"


def test_ref_updated_is_normalised():
    event = gerrit.normalise(recorded("ref-updated.json"))
    assert (event["project"], event["branch"], event["new_rev"]) == (
        "salt/openstack-formula", "master", "863b64002f2a9922deba69407804a44703c996e0")


def test_keys_differ_between_events_and_repeat_for_the_same_event():
    first = gerrit.normalise(recorded("patchset-created.json"))
    again = gerrit.normalise(recorded("patchset-created.json"))
    merged = gerrit.normalise(recorded("change-merged.json"))
    assert first["key"] == again["key"] != merged["key"]


HOSTILE = sorted(p.name for p in (FIXTURES / "hostile").iterdir())

#: Each hostile fixture and the (field, guard) that must refuse it (GerritEventError.field and .guard):
#: a new fixture needs an entry here, or its test fails.
HOSTILE_GUARDS = {
    "branch-option.json": ("branch", "name"),  # "-oProxyCommand=x"
    "branch-subst.json": ("branch", "name"),  # "master$(touch /tmp/pwned)"
    "change-number-bool.json": ("change.number", "number"),  # true
    "change-number-string-junk.json": ("change.number", "number"),  # "12345 && id"
    "jinja-yaml-injection.json": ("project", "name"),  # "{{ salt['cmd.run'](...) }}"
    "json-array.json": ("body", "object"),  # [1, 2, 3]
    "missing-change.json": ("change", "object"),
    "missing-patchset.json": ("patchSet", "object"),
    "newrev-injection.json": ("newRev", "sha"),  # "<sha>; id"
    "not-json.txt": ("body", "json"),  # a form-encoded body
    "project-mismatch.json": ("project", "agree"),  # project salt/other, change.project salt/openstack-formula
    "project-newline.json": ("project", "name"),  # "salt/openstack-formula\n"
    "project-shell.json": ("project", "name"),  # "salt/x;rm -rf /"
    "project-traversal.json": ("project", "name"),  # "../../etc"
    "ref-mismatch.json": ("patchSet.ref", "ref-owner"),  # refs/changes/46/12346/3 on change 12345
    "ref-traversal.json": ("patchSet.ref", "change-ref"),  # "refs/changes/45/12345/../../heads/master"
    "sha-not-string.json": ("patchSet.revision", "sha"),  # a list
    "sha-short.json": ("patchSet.revision", "sha"),  # 10 hex digits
    "sha-upper.json": ("patchSet.revision", "sha"),  # upper case
    "type-not-string.json": ("type", "type"),  # {"x": 1}
    "type-unknown.json": ("type", "known-type"),  # "project-created"
}


def test_every_hostile_fixture_has_its_guard():
    assert sorted(HOSTILE_GUARDS) == HOSTILE


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_events_are_refused_by_their_guard(name, settings):
    assert name in HOSTILE_GUARDS, f"tests/fixtures/gerrit/hostile/{name}: add the guard that must refuse it"
    raw = (FIXTURES / "hostile" / name).read_bytes()
    with pytest.raises(gerrit.GerritEventError) as refused:
        gerrit.normalise(gerrit.parse_body(raw))
    assert (refused.value.field, refused.value.guard) == HOSTILE_GUARDS[name], str(refused.value)
    event, why = gerrit.accept(raw, settings)
    assert event is None and why == f"rejected: {refused.value}"


def test_the_raw_body_path_accepts_bytes_and_routes(settings):
    event, why = gerrit.accept((FIXTURES / "patchset-created.json").read_bytes(), settings)
    assert why is None and event["repo"] == "openstack-formula"
    assert gerrit.signature_valid(event, "s3cret-s3cret")
    assert not gerrit.signature_valid(dict(event, revision="0" * 40), "s3cret-s3cret")
    assert not gerrit.signature_valid(event, "another")


@pytest.mark.parametrize("name,reason", [
    ("patchset-created-unknown-project.json", "project 'salt/unrelated-formula' is not configured"),
    ("patchset-created-other-branch.json", "branch 'stable/2025.1'"),
])
def test_unconfigured_projects_and_branches_are_ignored(name, reason, settings):
    event, why = gerrit.accept(recorded(name), settings)
    assert event is None and why.startswith("ignored: ") and reason in why


@pytest.mark.parametrize("body,guard", [(b"", "json"), (b"   ", "json"), (b"\xff\xfe", "utf-8"), (b"{" * 10, "json"),
                                        (b"x" * (gerrit.MAX_BODY + 1), "size"), ("x" * (gerrit.MAX_BODY + 1), "size"),
                                        (b"null", "object"), (b"42", "object")])
def test_bodies_that_are_not_an_event_object_are_rejected(body, guard, settings):
    event, why = gerrit.accept(body, settings)
    assert event is None and why.startswith("rejected: ")
    with pytest.raises(gerrit.GerritEventError) as refused:
        gerrit.parse_body(body)
    assert (refused.value.field, refused.value.guard) == ("body", guard)


def test_secret_comparison():
    assert gerrit.secret_matches("abc", "abc")
    assert not gerrit.secret_matches("abd", "abc")
    assert not gerrit.secret_matches("", "")
    assert not gerrit.secret_matches("anything", "")
    assert not gerrit.secret_matches(None, "abc")
    assert not gerrit.secret_matches("\udcff", "abc")


def test_hook_secret_from_path_or_header(settings):
    assert gerrit.hook_secret("salt/netapi/hook/gerrit/abc", {}, settings) == "abc"
    header = gerrit.GerritSettings(secret="abc", secret_header="X-Releasetrain-Secret")
    assert gerrit.hook_secret("salt/netapi/hook/gerrit/abc", {}, header) == ""
    assert gerrit.hook_secret("salt/netapi/hook/gerrit", {"X-RELEASETRAIN-SECRET": "abc"}, header) == "abc"


def test_review_url_quotes_the_project(settings):
    event = gerrit.normalise(recorded("patchset-created.json"))
    assert gerrit.review_url(settings, event) == (
        f"http://127.0.0.1:1/a/changes/salt%2Fopenstack-formula~12345/revisions/{REVISION}/review")


def test_bad_project_configuration_is_one_line():
    config = rt_config.load({"releasetrain": {"gerrit": {"projects": {"a;b": {"repo": "x"}}}}})
    with pytest.raises(ReleaseTrainError, match="needs a valid project name"):
        gerrit.settings(config)


@pytest.mark.parametrize("path,value", [
    ("change.branch", "master\n"), ("project", "salt/openstack-formula\n"), ("change.project", "salt/openstack-formula\n"),
    ("patchSet.revision", REVISION + "\n"), ("patchSet.ref", "refs/changes/45/12345/3\n"),
    ("change.id", "Ie10fd901201c53e9fe3b9766343060763ac81dc6\n"), ("change.number", "12345\n"),
    # Unicode digits: \d takes them and int() reads them as 12345
    ("change.number", "١٢٣٤٥"), ("patchSet.ref", "refs/changes/45/1٢٣٤٥/3"), ("patchSet.ref", "refs/changes/٤5/12345/3"), ("patchSet.number", "３"),
])
def test_a_trailing_newline_or_a_non_ascii_digit_is_rejected(path, value, settings):
    data = recorded("patchset-created.json")
    *parents, leaf = path.split(".")
    target = data
    for key in parents:
        target = target[key]
    target[leaf] = value
    event, why = gerrit.accept(data, settings)
    assert event is None and why.startswith("rejected: "), why


def test_a_secret_with_any_surrogate_compares_without_raising():
    assert not gerrit.secret_matches("\ud800", "abc")
    assert not gerrit.secret_matches("abc", "\udfff")
    assert gerrit.secret_matches("\ud800x", "\ud800x")


def test_headers_that_are_not_a_mapping_carry_no_secret():
    header = gerrit.GerritSettings(secret="abc", secret_header="X-Releasetrain-Secret")
    assert gerrit.hook_secret("salt/netapi/hook/gerrit", ["X-Releasetrain-Secret", "abc"], header) == ""
    assert gerrit.hook_secret("salt/netapi/hook/gerrit", None, header) == ""


# -- an event back from the bus: normalise's own checks, no round trip through Gerrit's JSON ---------

RECORDED = ["patchset-created.json", "change-merged.json", "comment-added.json", "ref-updated.json",
            "patchset-created-project-object.json", "patchset-created-other-branch.json"]


@pytest.mark.parametrize("name", RECORDED)
def test_a_normalised_event_passes_the_same_checks_again(name):
    event = gerrit.normalise(recorded(name))
    assert gerrit.check_normalised({**event, "repo": "f", "signature": "x"}) == event


TAMPERED = {
    "created": [-1, True, "1.5", None, 10 ** 13],
    "project": ["../etc", "a b", "", {"name": "salt/openstack-formula"}, "salt/openstack-formula\n", None],
    "branch": ["refs/heads/../x", "master\n", "", 5],
    "who": ["root; rm -rf /", "x" * 101, "\x00", None],
    "change": [0, -5, "12x", True, "١٢٣٤٥"],
    "patchset": [0, None, 2.5],
    "revision": ["A" * 40, "0" * 39, "", None],
    "ref": ["refs/heads/master", "refs/changes/45/12345/3\n", None],
    "change_id": ["I123", "I" + "g" * 40, None],
    "key": ["forged", "", None],
    "type": ["draft-published", "", None, ["patchset-created"]],
}


@pytest.mark.parametrize("field,value", [(field, value) for field, values in TAMPERED.items() for value in values])
def test_a_tampered_field_of_a_normalised_event_is_refused(field, value):
    event = gerrit.normalise(recorded("patchset-created.json"))
    with pytest.raises(gerrit.GerritEventError) as refused:
        gerrit.check_normalised({**event, field: value})
    assert refused.value.field == field, str(refused.value)


@pytest.mark.parametrize("name", RECORDED)
def test_a_missing_field_is_refused(name):
    event = gerrit.normalise(recorded(name))
    for field in event:
        if field != "type":
            with pytest.raises(gerrit.GerritEventError, match="missing|is not"):
                gerrit.check_normalised({key: value for key, value in event.items() if key != field})


def test_approvals_and_revisions_are_checked_by_event_type():
    merged = gerrit.normalise(recorded("change-merged.json"))
    with pytest.raises(gerrit.GerritEventError):
        gerrit.check_normalised({**merged, "new_rev": "not a sha"})
    comment = gerrit.normalise(recorded("comment-added.json"))
    for approvals in ({"Code Review": 2}, {"Verified": "x"}, [("Verified", 1)], {"Verified": 101 * -1}):
        with pytest.raises(gerrit.GerritEventError):
            gerrit.check_normalised({**comment, "approvals": approvals})
