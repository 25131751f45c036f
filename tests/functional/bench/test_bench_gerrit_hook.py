"""The Gerrit hook benchmark stays runnable: two events through a real salt-master and salt-api.

It once waited for an orchestration in an environment the pipeline no longer deploys to, and gave
up after 120 s on its first event; this run catches that class of drift in the default suite.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_bench_gerrit_hook_tiny_run_writes_results(tmp_path):
    out = tmp_path / "gerrit.md"
    process = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "gerrit_hook.py"), "--events", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    text = out.read_text()
    for measure in ("releasetrain/gerrit/patchset-created", "releasetrain/pipeline/orchestrate/start", "run finished"):
        assert re.search(rf"^\| hook -> .*{re.escape(measure)}.* \| \d+\.\d{{3}} \| \d+\.\d{{3}} \|", text, re.M), measure
    assert re.search(r"^Votes received by the stand-in: 2\.", text, re.M), text
