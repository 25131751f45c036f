"""pipeline.orchestration_outcome: what the vote says of a state.orchestrate return, in its real shapes."""

from releasetrain.gerrit.pipeline import orchestration_outcome

ID = "deploy-step-0"


def state(result, comment="", id_=ID):
    return {"__id__": id_, "result": result, "comment": comment, "name": id_, "changes": {}}


def returned(states, retcode=0):
    """state.orchestrate's full return: the master's own minion id over the states it ran."""
    return {"outputter": "highstate", "data": {"master_master": states}, "retcode": retcode}


def test_every_state_passed_is_ok_and_counted():
    ok, report = orchestration_outcome("deploy.region", returned({
        "salt_|-a_|-a_|-state": state(True, id_="a"), "salt_|-b_|-b_|-state": state(True, id_="b")}))
    assert ok and report == "state.orchestrate deploy.region: 2 states, 0 failed"


def test_failed_states_are_named_with_their_comments_trimmed():
    ok, report = orchestration_outcome("deploy.region", returned({
        "salt_|-a_|-a_|-state": state(True, id_="a"),
        "salt_|-b_|-b_|-state": state(False, "HALTED: stage nova failed on cmp02: " + "x" * 500, id_="b")}, 1))
    lines = report.splitlines()
    assert not ok and lines[0] == "state.orchestrate deploy.region: 2 states, 1 failed"
    assert lines[1].startswith("b: HALTED: stage nova failed on cmp02: ") and len(lines[1]) == len("b: ") + 200


def test_a_render_error_or_no_states_is_a_failure_with_salts_words():
    ok, report = orchestration_outcome("deploy.region", returned(["Rendering SLS 'test:deploy.region' failed"], 1))
    assert not ok and "Rendering SLS" in report
    assert orchestration_outcome("deploy.region", returned({}))[0] is False
    assert orchestration_outcome("deploy.region", "a string from a runner that failed") == (
        False, "state.orchestrate deploy.region: a string from a runner that failed")


def test_a_nonzero_retcode_fails_even_when_every_state_passed():
    assert orchestration_outcome("deploy.region", returned({"salt_|-a_|-a_|-state": state(True)}, 1))[0] is False
