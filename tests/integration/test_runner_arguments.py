"""Every runner of ours: a missing, unknown or malformed argument, or a bug, is exit 1 and one line.

Salt 3008 prints a function's docstring and exits 0 for a missing or unknown argument
(``Passed invalid arguments`` in ``salt/client/mixins.py``, the ``SaltException`` branch of
``salt/runner.py``) and dumps a traceback for any other exception; ``saltglue.runner`` and
``saltglue.run`` turn all of them into ``ERROR: <one line>``. The real ``salt-run`` checks the
exit code and what an operator sees; the table of every runner goes through
``salt.runner.RunnerClient`` in-process, which takes the same path through Salt's argument
handling (``load_args_and_kwargs``, ``SyncClientMixin.low``) in a fraction of the time.
"""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest
import salt.config
import salt.minion
import salt.runner
import salt.utils.args
import yaml

from releasetrain.lab import topology


SALT_RUN = os.path.join(os.path.dirname(sys.executable), "salt-run")
OUR_MODULES = ("release", "lab", "deploy", "pipeline")


def salt_run(master, *args):
    """The real salt-run with its default outputter and console log level, as an operator runs it."""
    return subprocess.run([SALT_RUN, "-c", master.config_dir, *args], capture_output=True, text=True,
                          check=False, timeout=120)


def assert_one_line_failure(result, expected):
    """Exit 1; stdout is the one line; nothing else names the problem and there is no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert result.stdout.splitlines() == [f"ERROR: {expected}"], output
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if expected in line] == [f"ERROR: {expected}"], output


@pytest.fixture
def lab_master(make_master, tmp_path):
    """A master whose lab state and cache are this test's own, so lab.* never touches another lab."""
    return make_master(releasetrain={"lab": {"state_dir": str(tmp_path / "lab-state"),
                                             "cache_dir": str(tmp_path / "lab-cache")}})


@pytest.fixture
def runners(lab_master):
    client = salt.runner.RunnerClient(salt.config.master_config(lab_master.config_file))
    yield client
    client.destroy()


def test_missing_and_unknown_arguments_through_salt_run(lab_master):
    assert_one_line_failure(salt_run(lab_master, "release.publish", "2026.11.0"),
                            "release.publish: missing argument env=ENV")
    assert_one_line_failure(salt_run(lab_master, "release.publish", "2026.11.0", "envv=test"),
                            "release.publish: unknown argument envv= (it takes release, env, by)")


def test_a_release_id_salt_run_read_as_a_number_is_refused(lab_master):
    """``2026.10`` unquoted is the float 2026.1: str() would name another release."""
    assert_one_line_failure(
        salt_run(lab_master, "release.publish", "2026.10", "env=test"),
        "release.publish: release must be text, but salt-run read it as the float 2026.1; "
        """quote it twice so YAML keeps what you typed, e.g. '"2026.10"'""")


BUGGY_RUNNER = '''
from releasetrain.saltglue import runner

__virtualname__ = "buggy"


def __virtual__():
    return __virtualname__


@runner
def crash(count=1):
    return len(count)
'''


def test_a_bug_in_a_runner_is_one_line_and_the_log_keeps_the_traceback(make_master, tmp_path):
    runner_dir = tmp_path / "runners"
    runner_dir.mkdir()
    (runner_dir / "buggy.py").write_text(textwrap.dedent(BUGGY_RUNNER))
    master = make_master(runner_dirs=[str(runner_dir)])
    expected = ("buggy.crash: unexpected TypeError: object of type 'int' has no len() "
                "(a bug; the master's log has the traceback)")
    assert_one_line_failure(salt_run(master, "buggy.crash"), expected)
    with open(master.config["log_file"], encoding="utf-8") as handle:
        log = handle.read()
    assert expected in log
    assert "Traceback (most recent call last)" in log and "return len(count)" in log


def our_runners(client):
    """Every function Salt loads from release, lab and deploy: a new runner is in the table by itself."""
    names = sorted(name for name in client.functions if name.split(".", 1)[0] in OUR_MODULES)
    assert {name.split(".", 1)[0] for name in names} == set(OUR_MODULES)
    return names


def required(signature):
    return [p.name for p in signature.parameters.values() if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]


def call(client, name, *args, pub_data=None, **kwargs):
    """What ``RunnerClient.cmd`` does (for salt-run and the orchestrate runner state) up to the call:
    Salt's own argument handling, then the loaded function; without ``low``'s job events, which
    wait a second each for a master that is not running."""
    func = client.functions[name]
    arglist = [*salt.utils.args.parse_input(list(args)), dict(kwargs, __kwarg__=True)]
    args, kwargs = salt.minion.load_args_and_kwargs(func, arglist, pub_data)
    return func(*args, **kwargs)


def test_every_runner_of_ours_is_guarded_and_fails_in_one_line_without_its_arguments(runners):
    without_arguments = 0
    for name in our_runners(runners):
        signature = getattr(runners.functions[name], "runner_signature", None)
        assert signature is not None, f"{name} is not a @saltglue.runner"
        missing = required(signature)
        if not missing:
            continue
        without_arguments += 1
        result = call(runners, name)
        assert result == {"error": f"{name}: missing argument{'s' * (len(missing) > 1)} "
                                   + " ".join(f"{param}={param.upper()}" for param in missing),
                          "retcode": 1, "outputter": "releasetrain"}, name
        unknown = call(runners, name, **{param: "x" for param in missing}, no_such_argument="x")
        assert unknown["retcode"] == 1, name
        if inspect.Parameter.VAR_KEYWORD in {p.kind for p in signature.parameters.values()}:
            assert "'no_such_argument'" in unknown["error"], name  # its own options, checked by it
        else:
            assert unknown["error"].startswith(f"{name}: unknown argument no_such_argument= (it takes "), name
    assert without_arguments >= 8  # package show diff publish promote verify rollback cloud_config plan


BAD_VALUES = [
    (("release.status",), {"limit": "abc"}, "release.status: limit must be a positive integer, not 'abc'"),
    (("release.status",), {"limit": 0}, "release.status: limit must be a positive integer, not 0"),
    (("release.status",), {"limit": True}, "release.status: limit must be a positive integer, not True"),
    (("release.show", 10), {}, "release.show: release must be text, but salt-run read it as the int 10; "),
    (("release.show", "a\nb"), {}, "release.show: release must be one line of printable text, not 'a\\nb'"),
    (("release.show", "a"), {"\x1b[2J": "x"}, "release.show: unknown argument '\\x1b[2J'= (it takes release)"),
    (("release.show", "a", "b"), {}, "release.show: too many arguments: 'b' (it takes release)"),
    (("release.show", "a"), {"release": "b"}, "release.show: release given twice, as an argument and as release="),
    (("release.diff", "r1", 2.5), {}, "release.diff: new must be text, but salt-run read it as the float 2.5; "),
    (("release.promote", "r1"), {"to": "staging", "force": "no"}, "release.promote: force must be True or False, not 'no'"),
    (("release.package",), {"manifest": None}, "release.package: missing argument manifest=MANIFEST"),
    (("deploy.plan",), {"release": "r1", "env": "test", "settings": "abc"},
     "deploy.plan: settings must be a mapping such as '{batch: 50%}', not 'abc'"),
    (("lab.up",), {"wait": "maybe"}, "lab.up: wait must be True or False, not 'maybe'"),
]


def test_malformed_values_are_one_line(runners):
    for (name, *args), kwargs, expected in BAD_VALUES:
        result = call(runners, name, *args, **kwargs)
        assert result["retcode"] == 1, (name, result)
        assert result["error"].startswith(expected), (name, result)


def test_lab_down_takes_the_topology_lab_up_took(runners, lab_master, tmp_path):
    """A bad file is one line before anything is touched; the default one is the lab's."""
    missing = tmp_path / "nowhere.yml"
    result = call(runners, "lab.down", topology=str(missing))
    assert result["error"] == f"{missing}: cannot read the topology: No such file or directory"
    bad = tmp_path / "bad.yml"
    bad.write_text("name: Bad Name\n")
    assert call(runners, "lab.down", topology=str(bad))["error"].startswith(f"{bad}: name must be")
    assert not os.path.exists(lab_master.config["releasetrain"]["lab"]["state_dir"])


def test_lab_up_refuses_an_unknown_distribution_before_making_anything(runners, lab_master, tmp_path):
    bad = tmp_path / "sid.yml"
    data = yaml.safe_load(open(topology.default_path(), encoding="utf-8"))
    data["nodes"][2]["distribution"] = "sid"
    bad.write_text(yaml.safe_dump(data))
    result = call(runners, "lab.up", topology=str(bad))
    assert result["retcode"] == 1
    assert result["error"] == f"{bad}: node 'cmp01': unknown distribution 'sid' (known: bookworm, trixie)"
    assert not os.path.exists(lab_master.config["releasetrain"]["lab"]["state_dir"])


def test_lab_down_with_a_topology_leaves_another_lab_alone(runners, lab_master):
    """The state dir says another lab is up (a state.json as lab.up writes it): lab.down
    topology=<the default> refuses in one line and the state stays."""
    state_dir = lab_master.config["releasetrain"]["lab"]["state_dir"]
    other = yaml.safe_load(open(topology.default_path(), encoding="utf-8"))
    other["name"] = "elsewhere-test"
    os.makedirs(state_dir)
    state = os.path.join(state_dir, "state.json")
    with open(state, "w", encoding="utf-8") as handle:
        json.dump({"topology": other, "source": "elsewhere.yml", "accepted": {}}, handle)
    result = call(runners, "lab.down", topology=topology.default_path())
    assert result["error"] == (f"the lab up in {state_dir} is 'elsewhere-test', not 'region-minimal' of "
                               f"{topology.default_path()}; left as it is (run lab.down without topology= to remove it)")
    assert os.path.exists(state)


def test_salt_internal_keywords_are_not_unknown_arguments(runners):
    """The orchestrate runner state passes ``__pub_*`` keys to a function taking ``**kwargs``."""
    result = call(runners, "release.status", limit=3, pub_data={"user": "Reactor", "jid": "1"})
    assert set(result) >= {"environments", "history"}, result


def test_salt_run_still_prints_the_docstring(lab_master):
    """``salt-run -d`` reads the docs of the function Salt loaded: the decorator keeps them."""
    docs = salt_run(lab_master, "-d", "release.publish")
    assert docs.returncode == 0
    assert "Unpack a release into the store" in docs.stdout
