"""releasetrain.demo's output: one line per deploy.region step, one line for a failure."""

from releasetrain import demo


def test_step_progress_shows_each_step_and_drops_the_rest_of_the_log():
    progress = demo.StepProgress()
    assert progress("[INFO    ] Executing state deploy.step for [02-infra]\n").endswith(" 02-infra ...\n")
    assert progress("[INFO    ] Loading fresh modules for state activity\n") is None
    assert progress("[WARNING ] unclosed RunnerClient <...>; call ``destroy()``\n") is None
    assert progress("unclosed MasterMinion <...>; call ``destroy()``\n") is None
    done = "[INFO    ] Completed state [02-infra] at time 08:49:22.476 (duration_in_ms=30024.5)\n"
    assert progress(done).endswith(" 02-infra ended after 30 s\n")
    # a state that is not a deploy step (none started under that id) is not shown
    assert progress("[INFO    ] Completed state [x] at time 08:49:22.476 (duration_in_ms=1.0)\n") is None
    assert progress("          ID: 08-compute-batch1of2\n") == "          ID: 08-compute-batch1of2\n"


def test_error_line_names_the_halt_or_the_runner_error():
    halted = "      Comment: step failed\n     Name: HALTED: stage compute failed on cmp02: ...\nSummary\n"
    assert demo._error_line(halted) == "HALTED: stage compute failed on cmp02: ..."
    assert demo._error_line("ERROR: unknown release 'x'\n") == "unknown release 'x'"
    assert demo._error_line("error: '/m.yml: cannot read it'\nretcode: 1\n") == "/m.yml: cannot read it"
    assert demo._error_line("", "[ERROR   ] the master is down\n") == "the master is down"
    assert demo._error_line("last words\n") == "last words"
