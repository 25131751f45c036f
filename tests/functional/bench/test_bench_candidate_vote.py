"""bench/candidate_vote.py finds its cases and writes its
report from the rounds' records; a whole round needs the lab for about 20 minutes, so the
smoke test stops at importing the cases."""

import importlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import candidate_vote  # noqa: E402  pylint: disable=wrong-import-position


def test_the_cases_import_with_their_fixtures():
    module = importlib.import_module(candidate_vote.CASES[:-3].replace("/", "."))
    assert callable(module.test_patchset_to_vote)
    assert {"gate", "gerrit_server", "lab_master_overrides", "deploy_lab_dirs"} <= set(vars(module))


@pytest.fixture
def rounds():
    def one(case, seconds, region):
        return {"round": 1, "case": case, "seconds": seconds, "result": "success", "vote": {"Verified": 1},
                "load": [2.5, 2.0, 1.0], "steps": [{"step": "package", "seconds": 4.0}, {"step": "region", "seconds": region},
                                                   {"step": "deploy", "seconds": seconds - region - 10}]}
    return [one("cold", 1200.0, 500.0), one("warm", 420.0, 30.0)]


def test_the_report_has_medians_each_step_and_the_ratio(rounds):
    report = candidate_vote.render(rounds, 0, 1, 0)
    assert "| cold | (the baseline: layers built) | 1200 s | 1200 | 2.5 |" in report
    assert "| warm | under 8 min | 420 s | 420 | 2.5 |" in report
    assert "warm / cold: 0.35" in report
    assert "| region | 500.0 | 30.0 |" in report and "| deploy | 690.0 | 380.0 |" in report
    assert "warm: median 380 s; target under 10 min (met)." in report
    assert json.loads(json.dumps(rounds)) == rounds  # what the cases write is what render reads


def test_the_plain_case_is_reported_beside_the_layered_ones(rounds):
    plain = {**rounds[1], "case": "plain", "seconds": 700.0,
             "steps": [{"step": "region", "seconds": 20.0}, {"step": "deploy", "seconds": 650.0}]}
    report = candidate_vote.render(rounds + [plain], 0, 1, 0)
    assert "| plain | (no layers: what a production region installs) | 700 s | 700 | 2.5 |" in report
    assert "warm / plain: 0.60" in report
    assert "every package installed by them), plain: median 650 s; target under 10 min (not met)." in report
    assert "| step | cold | warm | plain |" in report and "| deploy | 690.0 | 380.0 | 650.0 |" in report
    only_plain = candidate_vote.render([plain], 0, 1, 0)
    assert "| step | plain |\n| --- | ---: |\n| region | 20.0 |" in only_plain and "warm / " not in only_plain
