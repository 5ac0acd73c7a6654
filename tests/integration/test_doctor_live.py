"""The doctor against a real apiserver: read-only proof (audit log), live logs through pods/log (every
fixture log as a job's `main` log), --collect then --from-dir equals live, secrets never leak, cluster rules.

The cluster: an own control plane with the audit log on, the rhoai-2.22 profile installed, the sandbox's
platform-operator simulator (operator Deployment and ConfigMap) and kubelet (real pods, logs served through
the apiserver). LMEvalJobs get their failed status from the test (the TrustyAI operator simulator is not
needed for this); each job's pod plays a fixture log through a kubelet resolver.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fix_support import grant_read_only
from testsupport import require_controlplane_binaries

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

pytestmark = [pytest.mark.controlplane, pytest.mark.shared]

NS = "doctor-live"
FIXTURE_ANNOTATION = "doctor.lmeval-setup.io/fixture"
API_KEY = "sk-livetestsecret0123456789abcdef"
LOG_BEARER = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsb2d0ZXN0In0.c2lnbmF0dXJlc2VjcmV0"
KUBECONFIG_TOKEN = "sha256~kubeconfigsecrettoken0123456789"
READER = "doctor-reader"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
INFO_RULES = {"LME028", "LME030"}


def _readme(folder: Path) -> list[tuple[str, str]]:
    rows = []
    for line in (folder / "README.md").read_text().splitlines():
        m = re.match(r"^\|\s*(\S+\.log)\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            rows.append((m.group(1), m.group(2)))
    return rows


def fixture_cases(fixtures_dir: Path) -> list[tuple[str, str, set[str]]]:
    """(job name, log text, expected rules) for every failing fixture log (and part)."""
    cases = []
    for folder in ("lm-eval-0.4.12", "reconstructed-0.4.8"):
        base = fixtures_dir / "logs" / folder
        for name, expected in _readme(base):
            wanted = set(re.findall(r"LME\d{3}", expected.split("(")[0])) if not expected.startswith("none") else set()
            if not wanted:
                continue  # successes: covered offline (a Succeeded job's log is never fetched)
            text = (base / name).read_text()
            parts = re.split(r"(?m)^# \([a-z]\).*$", text)
            parts = parts[1:] if len(parts) > 1 else parts
            for i, part in enumerate(parts):
                job = re.sub(r"[^a-z0-9]+", "-", f"{name.split('.')[0]}-{i}".lower()).strip("-")[:60]
                cases.append((job, part, wanted))
    return cases


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[dict[str, Any]]:
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox import runner
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.kubelet import Kubelet
    from lmeval_setup.sandbox.platform_operator import PlatformOperator
    from lmeval_setup.sandbox.scripts import ContainerScript, LogLine

    require_controlplane_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("doctor-plane"), audit_log=True)
    plane.start()
    sims: list[Any] = []
    try:
        kube = Kube.connect(str(plane.kubeconfig))
        profile = P.install_profile(kube, "rhoai-2.22", P.InstallOptions(trustyai="Managed"))
        kubelet = runner.start_one("kubelet", Kubelet, str(plane.kubeconfig), profile, ca=plane.ca)
        sims.append(kubelet)
        sims.append(runner.start_one("platform-operator", PlatformOperator, str(plane.kubeconfig), profile))
        cases = fixture_cases(fixtures_dir)
        logs = {job: text for job, text, _ in cases}
        logs[cases[0][0]] += f"\nAuthorization: Bearer {LOG_BEARER}\n"

        def resolver(pod: dict[str, Any], container: dict[str, Any]) -> ContainerScript | None:
            name = (pod["metadata"].get("annotations") or {}).get(FIXTURE_ANNOTATION)
            if name is None or container.get("name") != "main":
                return None
            lines = tuple(LogLine(0.0, line) for line in logs[name].splitlines())
            return ContainerScript(lines, exit_code=1, linger=0.1)

        _wait(lambda: kubelet.instance.port > 0, "kubelet serving")
        kubelet.instance.register(resolver)
        deployment = resource_path("apps", "v1", "deployments", "redhat-ods-applications", R.OPERATOR_DEPLOYMENT)
        _wait(lambda: int((kube.get_or_none(deployment) or {}).get("status", {}).get("availableReplicas") or 0) > 0,
              "the operator Deployment to be available", timeout=90)
        P.ensure_namespace(kube, NS)
        for job, _, _ in cases:
            _create_failed_job(kube, job)
        pods = resource_path("", "v1", "pods", NS)
        _wait(lambda: sum(p["status"].get("phase") == "Failed" for p in kube.list_items(pods)) == len(cases),
              "fixture pods to finish", timeout=120)
        yield {"plane": plane, "kube": kube, "cases": cases, "platform": sims[1].instance}
    finally:
        runner.stop_simulators(sims, timeout=10.0)
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def _wait(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _create_failed_job(kube: Kube, name: str) -> None:
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
    kube.create(jobs, {
        "apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"model": "local-completions", "taskList": {"taskNames": ["gsm8k"]}, "allowOnline": False,
                 "modelArgs": [{"name": "model", "value": "granite"},
                               {"name": "base_url", "value": "http://granite-predictor:8080/v1/completions"}],
                 "pod": {"container": {"env": [{"name": "OPENAI_API_KEY", "value": API_KEY}]}}},
    })
    kube.merge_patch(f"{jobs}/{name}/status", {"status": {
        "state": "Complete", "reason": "Failed", "message": "exit status 1", "podName": name}})
    kube.create(resource_path("", "v1", "pods", NS), {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "annotations": {FIXTURE_ANNOTATION: name}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest", "command": ["lmeval-fixture"],
            "env": [{"name": "OPENAI_API_KEY", "value": API_KEY}, {"name": "HF_HUB_OFFLINE", "value": "1"}]}]},
    })


def _doctor(kube: Kube) -> Any:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    snapshot = collect(kube, Scope(namespace=NS))
    return snapshot, evaluate(snapshot)


def _report(result: Any) -> dict[str, Any]:
    from lmeval_setup.report.jsonfmt import report_dict

    return report_dict(result.findings, tool="doctor", errors=result.errors)


def test_every_fixture_log_attributed_live_through_pods_log(cluster: dict[str, Any]) -> None:
    snapshot, result = _doctor(cluster["kube"])
    # Job pods' logs; the operator's manager log (read once, when a job's status is terse) is not one.
    job_logs = [key for key in snapshot.logs if key[2] != "manager"]
    assert len(job_logs) == len(cluster["cases"]), (snapshot.notes[:3], result.errors[:3])
    by_job: dict[str, set[str]] = {}
    for f in result.findings:
        if any(e.source == "log" for e in f.evidence) and f.rule_id not in INFO_RULES:
            by_job.setdefault(f.target.name, set()).add(f.rule_id)
    wrong = {}
    for job, _, wanted in cluster["cases"]:
        got = by_job.get(job, set())
        if job.startswith("15-"):  # parts (d) gated and (e) no egress get LME011 / LME001, as offline
            ok = len(got) == 1
        elif len(wanted) > 1:  # "LME010, LME014, LME023 by part": each part one of them
            ok = len(got) == 1 and got <= wanted
        else:
            ok = got == wanted
        if not ok:
            wrong[job] = (got, wanted)
    assert not wrong


def test_collect_then_from_dir_equals_live(cluster: dict[str, Any], tmp_path: Path) -> None:
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir

    snapshot, live = _doctor(cluster["kube"])
    write_dir(snapshot, tmp_path / "collected")
    offline = evaluate(read_dir(tmp_path / "collected"))
    assert _report(offline) == _report(live)


def test_requests_do_not_grow_with_jobs(cluster: dict[str, Any]) -> None:
    kube = Kube.connect(str(cluster["plane"].kubeconfig))
    _doctor(kube)
    logs = len(cluster["cases"])
    # lists + cluster-layer gets; one log request per failed pod (the only per-job cost)
    assert kube.requests.total <= 30 + logs, kube.requests.by_verb


def _reader_kubeconfig(cluster: dict[str, Any], kube: Kube) -> Path:
    grant_read_only(kube, READER)
    path = cluster["plane"].kubeconfig_for(READER)
    config = yaml.safe_load(path.read_text())
    # An unused user with a bearer token: it must never appear in any output.
    config["users"].append({"name": "other", "user": {"token": KUBECONFIG_TOKEN}})
    path.write_text(yaml.safe_dump(config))
    return path


def test_read_only_identity_and_no_secrets_anywhere(cluster: dict[str, Any], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lmeval_setup.cli.doctor import doctor

    kubeconfig = _reader_kubeconfig(cluster, cluster["kube"])
    runner = CliRunner()
    outputs = []
    for fmt in ("text", "json", "junit", "sarif"):
        args = ["--kubeconfig", str(kubeconfig), "-n", NS, "-o", fmt]
        if fmt == "json":
            args += ["--collect", str(tmp_path / "collected")]
        res = runner.invoke(doctor, args, catch_exceptions=False)
        assert res.exit_code == 1, res.output
        outputs.append(res.output)
    assert "LME001" in outputs[0] or "LME004" in outputs[0]
    collected = "".join(p.read_text(errors="replace") for p in (tmp_path / "collected").rglob("*") if p.is_file())
    for secret in (API_KEY, LOG_BEARER, KUBECONFIG_TOKEN):
        assert all(secret not in out for out in outputs), secret
        assert secret not in collected, secret
    # the audit log: the reader issued reads only (and did issue them)
    verbs = _audit_verbs(cluster["plane"].audit_log_path, READER)
    assert verbs and verbs <= {"get", "list", "watch"}, verbs
    assert not verbs & WRITE_VERBS


def _audit_verbs(path: Path, user: str) -> set[str]:
    verbs = set()
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if (event.get("user") or {}).get("username") == user:
            verbs.add(event.get("verb", ""))
    return verbs


def test_a_succeeded_job_without_results_is_named_and_one_with_results_is_not(cluster: dict[str, Any]) -> None:
    """LME041 through the live collection, where a healthy job is slimmed (its results dropped, for memory)
    before the rules run: only the job that never had results is reported."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.sandbox import profiles as P

    kube, ns = cluster["kube"], "results-race"
    P.ensure_namespace(kube, ns)
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", ns)
    for name, results in (("with-results", '{"results": {"arc_easy": {"acc,none": 0.5}}}'), ("lost", None)):
        kube.create(jobs, {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
                           "metadata": {"name": name, "namespace": ns},
                           "spec": {"model": "local-completions", "taskList": {"taskNames": ["arc_easy"]}}})
        status = {"state": "Complete", "reason": "Succeeded", "message": "job completed", "podName": name}
        kube.merge_patch(f"{jobs}/{name}/status", {"status": {**status, **({"results": results} if results else {})}})
    result = evaluate(collect(kube, Scope(namespace=ns)))
    found = [(f.rule_id, f.target.name) for f in result.findings if f.target.kind == "LMEvalJob"]
    assert [name for rule, name in found if rule == "LME041"] == ["lost"], found  # (the bare specs draw others)


def test_cluster_rules_follow_the_live_state(cluster: dict[str, Any]) -> None:
    """Unannotated edit on 2.22 (LME104 while it lasts), operator scaled to 0 (LME107). Runs last."""
    kube = cluster["kube"]
    cm = resource_path("", "v1", "configmaps", "redhat-ods-applications", R.OPERATOR_CONFIGMAP)
    deployment = resource_path("apps", "v1", "deployments", "redhat-ods-applications", R.OPERATOR_DEPLOYMENT)
    _, result = _doctor(kube)
    assert not [f for f in result.findings if f.target.kind != "LMEvalJob"]
    kube.merge_patch(f"{deployment}", {"spec": {"replicas": 0}})
    _wait(lambda: not (kube.get(deployment).get("status") or {}).get("availableReplicas"), "scale to 0")
    _, result = _doctor(kube)
    assert "LME107" in {f.rule_id for f in result.findings}
    # an annotated edit of a start-up key while the operator runs: restart pending (LME106), not LME104
    kube.merge_patch(f"{deployment}", {"spec": {"replicas": 1}})
    _wait(lambda: (kube.get(deployment).get("status") or {}).get("availableReplicas"), "scale to 1", 60)
    time.sleep(1.1)  # managedFields and startTime have one-second resolution
    kube.merge_patch(cm, {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}})
    # The scale-up's reconcile may have read the ConfigMap before the annotation: an edit made at once would be put
    # back by it (2.22 does not de-own, so only the platform itself can say when it is over).
    assert cluster["platform"].wait_out_reconcile_in_flight()
    kube.merge_patch(cm, {"data": {"lmes-default-batch-size": "4"}})
    _, result = _doctor(kube)
    cluster_rules = {f.rule_id for f in result.findings if f.target.kind != "LMEvalJob"}
    assert cluster_rules == {"LME106"}, (cluster_rules, kube.get(cm)["metadata"].get("managedFields"))
