"""`doctor --collect` writes what `oc adm inspect` writes, so the offline reader and docs/ agree with it."""

from __future__ import annotations

from pathlib import Path

from doctor_support import OFFLINE_LOG_TEXT, add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.doctor.offline import read_dir
from lmeval_setup.doctor.writer import write_dir


def test_pods_are_written_beside_their_logs_as_oc_adm_inspect_does(tmp_path: Path) -> None:
    snap = cluster_snapshot("rhoai-2.22")
    add_job(snap, with_status(lmevaljob(), state="Complete", reason="Failed", message="exit status 1"),
            pod(), OFFLINE_LOG_TEXT)
    out = write_dir(snap, tmp_path / "collected")
    pod_dir = out / "namespaces" / "demo" / "pods" / "evaljob"
    assert (pod_dir / "evaljob.yaml").is_file()
    assert (pod_dir / "main" / "main" / "logs" / "current.log").is_file()
    assert not (out / "namespaces" / "demo" / "core" / "pods").exists()
    back = read_dir(out)
    assert back.get("", "v1", "pods", "evaljob", "demo") is not None
    assert {f.rule_id for f in evaluate(back).findings} == {f.rule_id for f in evaluate(snap).findings}


def test_docs_describe_the_pod_layout_the_writer_uses() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "doctor.md").read_text()
    assert "pods/<pod>/<pod>.yaml" in doc
    assert "core/pods/" not in doc
