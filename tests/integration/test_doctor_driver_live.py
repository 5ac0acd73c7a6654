"""Custom tasks from git and S3 offline storage, live: the real rhoai-3.5 controller and the real driver in the job
pod (LMEVAL_SANDBOX_OPERATOR=real; lm-eval itself is the stand-in, it never starts here). The driver clones the
job's taskList.customTasks git source before lm-eval; an unreachable repository fails the job with the driver's
own message, which the controller reads through `driver --get-status`. The doctor names LME031 with that message
as evidence; a job without online access gets the driver's refusal, LME001; an S3 download that fails is LME032
(the driver runs the job image's s3_downloader.py, here its sandbox stand-in, which behaves as the image's script
does: TLS verification without a caBundle stops it, an endpoint it cannot reach fails it); `doctor --from-dir` on
what `--collect` wrote finds the same (issue 14 item 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testsupport import wait_for

from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.catalog import rule
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import realoperator

pytestmark = pytest.mark.controlplane
NS = "git-tasks"
REPO_URL = "https://git.invalid/acme/eval-tasks.git"  # .invalid never resolves (RFC 2606)


def _git_job(name: str, *, online: bool) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=online, namespace=NS)
    body["spec"]["taskList"] = {"taskNames": ["acme_task"],
                                "customTasks": {"source": {"git": {"url": REPO_URL, "path": "tasks"}}}}
    return body


def _s3_job(name: str, *, verify_ssl: bool | None = None) -> dict[str, Any]:
    """offline.storage.s3: the driver runs the job image's scripts/s3_downloader.py before lm-eval, with the
    Secret's values in AWS_* (the kubelet resolves them) and S3_VERIFY_SSL ("true" unless verifySSL: false)."""
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=False, namespace=NS)

    def ref(key: str) -> dict[str, str]:
        return {"name": "eval-s3", "key": key}

    body["spec"]["offline"] = {"storage": {"s3": {
        "accessKeyId": ref("key"), "secretAccessKey": ref("secret"), "bucket": ref("bucket"), "path": "models",
        "region": ref("region"), "endpoint": ref("endpoint")}}}
    if verify_ssl is not None:
        body["spec"]["offline"]["storage"]["s3"]["verifySSL"] = verify_ssl
    return body


def test_git_custom_task_failures_are_explained(new_controlplane: Any, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir
    from lmeval_setup.sandbox.harness import running_sandbox
    from lmeval_setup.sandbox.profiles import get_profile

    missing = realoperator.missing_for_real(get_profile("rhoai-3.5"))
    if missing:
        pytest.skip(f"real operator for rhoai-3.5: {missing}")
    monkeypatch.setenv(realoperator.ENV_SWITCH, "real")
    monkeypatch.setenv(realoperator.LM_EVAL_SWITCH, "standin")
    with running_sandbox(new_controlplane, "rhoai-3.5", "bootstrapped") as sb:  # online permitted
        kube = sb.kube
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
        jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
        kube.create(jobs, _git_job("clone-fails", online=True))
        kube.create(jobs, _git_job("offline-git", online=False))
        kube.create(resource_path("", "v1", "secrets", NS), {"metadata": {"name": "eval-s3"}, "stringData": {
            "key": "AKIAEXAMPLE", "secret": "not-a-real-secret", "bucket": "evals", "region": "us-east-1",
            "endpoint": "https://s3.invalid"}})
        kube.create(jobs, _s3_job("s3-assets"))
        kube.create(jobs, _s3_job("s3-unreachable", verify_ssl=False))

        def all_failed() -> bool:
            states = [(j.get("status") or {}) for j in kube.get(jobs).get("items", [])]
            return len(states) == 4 and all(s.get("state") == "Complete" and s.get("reason") == "Failed"
                                            for s in states)

        wait_for("the four jobs to fail", all_failed, timeout=150)
        snapshot = collect(kube, Scope(namespace=NS))
        result = evaluate(snapshot)
        by_job = {(f.target.name, f.rule_id): f for f in result.findings}

        clone = by_job.get(("clone-fails", "LME031"))
        assert clone is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
        status_evidence = next(ev for ev in clone.evidence if ev.path == "status.message")
        assert "failed to clone git repository" in status_evidence.text and "git.invalid" in status_evidence.text
        assert "git URL" in rule("LME031").fix

        offline = by_job.get(("offline-git", "LME001"))
        assert offline is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
        assert any("fetching external git tasks is not allowed" in ev.text for ev in offline.evidence)

        # verifySSL defaults to true and no caBundle is given: the image's script stops before it connects,
        # and the driver prints its line in main's log.
        s3 = by_job.get(("s3-assets", "LME032"))
        assert s3 is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
        assert any(ev.text == "failed to download assets from S3: exit status 1" and ev.path == "status.message"
                   for ev in s3.evidence), s3.evidence
        assert any("SSL verification enabled, but no certificate path found" in ev.text
                   and ev.path == "pod/s3-assets/main" for ev in s3.evidence), s3.evidence
        assert "caBundle" in s3.message
        assert "S3 Secret" in rule("LME032").fix and "caBundle" in rule("LME032").fix
        # verifySSL: false: the script connects to the Secret's endpoint, which the pod cannot reach.
        unreachable = by_job.get(("s3-unreachable", "LME032"))
        assert unreachable is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
        assert [ev.text for ev in unreachable.evidence if ev.path == "status.message"] == [
            "failed to download assets from S3: exit status 1"]
        assert not any("certificate" in ev.text for ev in unreachable.evidence)

        # The real manager's log names each job the way doctor/operator_log.py looks for it (name and namespace
        # on one line), so operator-log evidence finds its lines in the real format.
        from lmeval_setup.doctor.operator_log import lines_about, operator_pods

        (op_ns, op_pod), = operator_pods(snapshot)
        manager_log = kube.pod_log(op_ns, op_pod, R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)
        about = lines_about(manager_log, "clone-fails", NS)
        assert about and all("clone-fails" in line and NS in line for _, line in about), manager_log[-2000:]
        assert not any("offline-git" in line for _, line in about)

        back = read_dir(write_dir(snapshot, tmp_path / "collected"))
        live = sorted((f.rule_id, f.target.name, f.message) for f in result.findings)
        assert sorted((f.rule_id, f.target.name, f.message) for f in evaluate(back, now=snapshot.collected_at)
                      .findings) == live
