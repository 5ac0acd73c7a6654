"""The summary's "N checked" counts every object doctor checked: with --job a,b,c,d,e that is the five jobs and
the DataScienceCluster, and "6 checked" alone read as a miscount of the jobs (reported by engineer R). With
more than one kind the line says which: "6 checked (1 DataScienceCluster, 5 LMEvalJobs)"."""

from __future__ import annotations

from pathlib import Path

import pytest
from doctor_support import add_job, cluster_snapshot, lmevaljob, with_status

from lmeval_setup.cli.main import main
from lmeval_setup.doctor.writer import write_dir
from lmeval_setup.report.text import render_text
from lmeval_setup.rules.finding import Target

NAMES = ("a", "b", "c", "d", "e")


def test_doctor_job_list_summary_says_what_the_checked_objects_are(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    snapshot = cluster_snapshot("rhoai-2.25")
    for name in NAMES:
        add_job(snapshot, with_status(lmevaljob(name), state="Running"))
    write_dir(snapshot, tmp_path / "dir")
    with pytest.raises(SystemExit):
        main(["doctor", "--from-dir", str(tmp_path / "dir"), "-n", "demo", "--job", ",".join(NAMES)])
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert " in 6 checked (1 DataScienceCluster, 5 LMEvalJobs), " in summary, summary


def test_one_kind_keeps_the_plain_count() -> None:
    jobs = [Target(kind="LMEvalJob", name=n, namespace="demo") for n in NAMES]
    assert render_text([], tool="lint", checked=jobs).strip() == "lint: no findings in 5 checked, 5 clean"
    assert render_text([], tool="lint").strip() == "lint: no findings"
