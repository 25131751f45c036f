"""The ``release.package`` benchmark stays runnable: a tiny run writes medians, ratios and targets.

``--no-cli`` keeps it well under 20 s on a busy 2-core machine: each ``salt-run`` start
costs seconds there; the full benchmark runs those too.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_bench_package_tiny_run_writes_results(tmp_path):
    out = tmp_path / "package.md"
    process = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "package.py"), "--repos", "2", "--files", "20",
         "--commits", "3", "--runs", "1", "--no-cli", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    text = out.read_text()
    for kind in ("api cold", "api warm", "baseline", "floor"):
        assert re.search(rf"^\| {kind} \| \d+\.\d{{3}} \| \d+\.\d{{3}} \| \d+\.\d{{3}} \|", text, re.M), kind
    for ratio in ("baseline / api warm", "api warm / floor", "baseline / api cold", "api cold / floor"):
        assert re.search(rf"^\| {re.escape(ratio)} \| \d+\.\d\d \|$", text, re.M), ratio
    assert re.search(r"warm at least 5x faster than the baseline: \*\*(met|NOT met)\*\*", text)
    assert re.search(r"warm within 1\.5x of the floor: \*\*(met|NOT met)\*\*", text)
    assert re.search(r"fetch phase .* \d+\.\d{3} s; write phase .* \d+\.\d{3} s", text)
    assert "| measurement | median | min | max | CPU | what |" in text
    assert "nproc" in text and "git version" in text
    assert "api warm / floor:" in process.stdout
