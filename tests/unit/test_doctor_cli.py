"""`lmeval-setup doctor` exit codes and output on --from-dir (no cluster needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from doctor_support import OFFLINE_LOG_TEXT, add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.cli.main import main
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.doctor.writer import write_dir


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0), capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["doctor", "-n", "a", "-A", "--from-dir", str(tmp_path)], capsys)[0] == 2
    assert run(["doctor", "--from-dir", str(tmp_path / "missing")], capsys)[0] == 2
    assert run(["doctor", "--from-dir", str(tmp_path), "--ignore", "LME999"], capsys)[0] == 2


def test_from_dir_exit_codes_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    healthy = cluster_snapshot("rhoai-2.25")
    write_dir(healthy, tmp_path / "ok")
    assert run(["doctor", "--from-dir", str(tmp_path / "ok")], capsys)[0] == 0

    broken = cluster_snapshot("rhoai-2.25")
    add_job(broken, with_status(lmevaljob(), state="Complete", reason="Failed", message="exit status 1"), pod(),
            OFFLINE_LOG_TEXT)
    write_dir(broken, tmp_path / "broken")
    code, out = run(["doctor", "--from-dir", str(tmp_path / "broken"), "-o", "json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["schema"] == "lmeval-setup/findings"
    lme001 = next(f for f in report["findings"] if f["id"] == "LME001")
    assert {e["source"] for e in lme001["evidence"]} >= {"log"} and lme001["fix"]
    assert run(["doctor", "--from-dir", str(tmp_path / "broken"), "--ignore", "LME001"], capsys)[0] == 0


def test_no_openshift_ai_reports_lme110_and_exits_4(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = Snapshot()
    empty.add("", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    write_dir(empty, tmp_path / "plain")
    code, out = run(["doctor", "--from-dir", str(tmp_path / "plain")], capsys)
    assert code == 4 and "LME110" in out
