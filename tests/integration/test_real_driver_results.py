"""The real driver of every built line says "Complete, Succeeded" before it holds lm-eval's results (LME041).

When lm-eval exits 0 the driver sets state, reason and message first and only then reads `*result*.json` from
its output path; `--get-status` answers from another goroutine meanwhile. A controller that reads the status in
between stores a succeeded job without results and shuts the driver down (a CI run's `eval-good` on rhoai-2.22
ended so). Here the results file is a FIFO: the driver's read of it blocks until the test writes it, so the
window stays open for exactly as long as the test needs, on every run.

Each line's driver runs in private mount and network namespaces (its socket in /tmp on 2.16, TCP 127.0.0.1:18080
later, whatever --listen-port says to a client), so lines and test workers never meet. Needs root and unshare;
a line not built (tools/build-operator.sh) is skipped with a reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lmeval_setup.rules.status import status_findings, utcnow
from lmeval_setup.sandbox import operator_build as OB

RESULTS = {"results": {"arc_easy": {"acc,none": 0.5}}}

# Inside the namespaces: loopback up, a private /tmp, the driver running `true` as its user program; the status
# once Complete (the results file's read is blocked on the FIFO), then the FIFO written, then the final status.
SCRIPT = r"""
set -eu
ip link set lo up
# A private /tmp for the 2.16 socket; the work directory (under the host's /tmp) stays reachable through /mnt.
mount -t tmpfs tmpfs /mnt && mkdir /mnt/work && mount --bind "$WORK" /mnt/work && mount -t tmpfs tmpfs /tmp
WORK=/mnt/work OUT=/mnt/work/output
"$DRIVER" --output-path "$OUT" -- true > "$WORK/driver.log" 2>&1 &
trap 'kill -9 $! 2>/dev/null || true' EXIT  # a driver that never reaches the FIFO must not outlive the test
status() { "$DRIVER" --get-status 2>/dev/null || true; }
i=0
until status | grep -q '"state":"Complete"'; do
  i=$((i + 1)); [ "$i" -lt 300 ] || { echo "never Complete" >&2; exit 3; }; sleep 0.05
done
status > "$WORK/before.json"
printf '%s' "$RESULTS" > "$OUT/results.json"
i=0
until status | grep -q '"results"'; do
  i=$((i + 1)); [ "$i" -lt 300 ] || { echo "never any results" >&2; exit 4; }; sleep 0.05
done
status > "$WORK/after.json"
"$DRIVER" --shutdown > /dev/null 2>&1 || true
wait
"""


def _driver(line: str) -> Path:
    build = OB.build_for_line(line)
    if build is None:
        pytest.skip(f"the driver of {line} is not built: {OB.BUILD_HINT}")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("the driver runs in private mount and network namespaces: needs root, unshare and ip")
    return build.driver


@pytest.mark.parametrize("line", list(OB.OPERATOR_LINES))
def test_driver_reports_success_before_it_holds_the_results(line: str, tmp_path: Path) -> None:
    driver = _driver(line)
    out = tmp_path / "output"
    out.mkdir()
    os.mkfifo(out / "results.json")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DRIVER": str(driver), "OUT": str(out),
           "WORK": str(tmp_path), "RESULTS": json.dumps(RESULTS)}
    run = subprocess.run(["unshare", "-m", "-n", "--propagation", "private", "sh", "-c", SCRIPT], env=env,
                         capture_output=True, text=True, timeout=60)
    log = (tmp_path / "driver.log").read_text(errors="replace") if (tmp_path / "driver.log").exists() else ""
    assert run.returncode == 0, f"{run.stderr}\n{log[-2000:]}"

    before = json.loads((tmp_path / "before.json").read_text())
    assert (before.get("state"), before.get("reason"), before.get("message")) == (
        "Complete", "Succeeded", "job completed")
    assert not before.get("results")  # what a controller reading now stores for good
    after = json.loads((tmp_path / "after.json").read_text())
    assert json.loads(after["results"]) == RESULTS

    # The doctor names the first status, stored on a job, and is silent on the second.
    def job(status: dict[str, object]) -> dict[str, object]:
        return {"metadata": {"name": "eval-good", "namespace": "team"}, "status": status}

    lost = status_findings(job(before), pod=None, pvcs=None, now=utcnow())
    assert [f.rule_id for f in lost] == ["LME041"]
    assert "no results" in lost[0].evidence[0].text
    assert status_findings(job(after), pod=None, pvcs=None, now=utcnow()) == []
