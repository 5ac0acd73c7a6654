"""Every command's -o json (and -o yaml) against the JSON Schemas in docs/schemas/, from a real sandbox
(rhoai-2.22, `fresh`: TrustyAI Removed), and the newcomer's edges of issue 20 on the way:

- provision on a cluster where TrustyAI is Removed names LME101, not the LME001 it makes the job look like;
- the doctor does the same for a job that waits for an operator that is not there;
- bootstrap's JSON: `errors` is always a list, `release_line` names the line (2.17-2.24);
- results -A, doctor --job NAME... on a live cluster (an unknown name: one line, exit 2).

One sandbox for the module; the tests run in file order (fresh cluster first, then bootstrapped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from schemasupport import validate
from testsupport import require_controlplane_binaries, wait_for

from lmeval_setup.cli.main import main
from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.lmevaljob import lmevaljob_path

pytestmark = pytest.mark.controlplane

PROFILE = "rhoai-2.22"
CI_NS = "ci-outputs"
WAITING_NS = "waiting"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox

    require_controlplane_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("cli-outputs"))
    plane.start()
    try:
        with running_sandbox(plane, PROFILE, "fresh") as box:
            # The model the jobs evaluate: the real lm-eval connects to it (its vLLM stand-in).
            from lmeval_setup.sandbox.scenarios import serve_model

            serve_model(box.kube)
            yield box
    finally:
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def run_cli(capsys: pytest.CaptureFixture[str], sandbox: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*args, "--kubeconfig", sandbox.kubeconfig])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def job_args(namespace: str, *extra: str, job: str = "lmeval-ci", url: str | None = None) -> list[str]:
    from lmeval_setup.sandbox import jobs

    return ["provision", "-n", namespace, "--job-name", job, "--model", jobs.SERVED_MODEL,
            "--base-url", url or jobs.COMPLETIONS_URL, "--tokenizer", jobs.HF_TOKENIZER,
            "--tasks", "arc_easy", "--limit", "10", *extra]


def ids(findings: list[dict[str, Any]]) -> set[str]:
    return {f["id"] for f in findings}


# -- TrustyAI Removed: the cluster-level cause wins ------------------------------------------------------
def test_provision_without_trustyai_reports_lme101_not_lme001(capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys, sandbox, *job_args(CI_NS))
    assert code == 4, out + err
    assert "LME101" in out and "LME001" not in out
    assert err.strip().splitlines() == [
        "error: TrustyAI cannot run LMEvalJobs on this cluster (LME101); nothing was applied (lmeval-setup bootstrap)"]
    assert sandbox.kube.get_or_none(resource_path("", "v1", "namespaces", None, CI_NS)) is None

    code, out, _ = run_cli(capsys, sandbox, *job_args(CI_NS), "-o", "json")
    report = json.loads(out)
    validate(report, "provision")
    assert code == 4 and report["exit_code"] == 4 and report["outcome"] == "blocked"
    assert ids(report["findings"]) == {"LME101"} and report["applied"] is False and report["errors"]


def test_doctor_without_trustyai_folds_the_jobs_symptoms_into_lme101(capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    from lmeval_setup.sandbox import jobs
    from lmeval_setup.sandbox.profiles import ensure_namespace

    ensure_namespace(sandbox.kube, WAITING_NS)
    body = jobs.seed_job("eval-good").for_namespace(WAITING_NS)
    body["spec"]["allowOnline"] = False  # offline and nothing cached: LME001 on a cluster that ran it
    sandbox.kube.create(lmevaljob_path(WAITING_NS), body)
    code, out, _ = run_cli(capsys, sandbox, "doctor", "-n", WAITING_NS, "-o", "json")
    report = json.loads(out)
    validate(report, "findings")
    # The job's own advice (LME029, info: client tuning) stays; its symptoms of LME101 do not.
    assert code == 1 and ids(report["findings"]) - {"LME029"} == {"LME101"}, report["findings"]
    evidence = report["findings"][0]["evidence"]
    assert any(e["text"].startswith("LME001:") and "LMEvalJob/waiting/eval-good" in (e["path"] or "")
               for e in evidence), evidence
    assert yaml.safe_load(run_cli(capsys, sandbox, "doctor", "-n", WAITING_NS, "-o", "yaml")[1]) == report


# -- bootstrap ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bootstrapped(sandbox: Any) -> dict[str, Any]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(["bootstrap", "-o", "json", "--kubeconfig", sandbox.kubeconfig])
        raise SystemExit(0)
    assert exc.value.code in (0, None), out.getvalue() + err.getvalue()
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_bootstrap_json_has_one_type_per_key_and_names_the_release_line(bootstrapped) -> None:  # type: ignore[no-untyped-def]
    validate(bootstrapped, "bootstrap")
    cluster = bootstrapped["clusters"]["cluster"]
    assert cluster["errors"] == [] and "error" not in cluster and "release" not in cluster
    assert cluster["release_line"] == "2.17-2.24" and cluster["release_version"] == "2.22.1"
    assert cluster["trustyai_state"] == "Managed" and cluster["effective_online"] is True


# -- provision, results, doctor on the bootstrapped cluster --------------------------------------------
@pytest.fixture(scope="module")
def provisioned(bootstrapped, sandbox: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main([*job_args(CI_NS, "--wait", "--timeout", "240", "--gate", "arc_easy:acc_norm>=0.3",
                        "--gate", "arc_easy:nope>=0.1", "-o", "json"), "--kubeconfig", sandbox.kubeconfig])
    return {"code": exc.value.code, "report": json.loads(out.getvalue()), "err": err.getvalue()}


def test_provision_json_report_of_a_waited_run(provisioned) -> None:  # type: ignore[no-untyped-def]
    report = provisioned["report"]
    validate(report, "provision")
    assert provisioned["code"] == 1 and report["outcome"] == "gates-failed", provisioned["err"]
    assert report["applied"] is True and report["job_state"]["reason"] == "Succeeded"
    assert [job["job"] for job in report["results"]] == ["lmeval-ci"]
    assert "arc_easy" in report["results"][0]["tasks"]
    assert [g["passed"] for g in report["gates"]] == [True, False]
    assert "actual" in report["gates"][0] and "actual" not in report["gates"][1]


def test_provision_json_when_lint_stops_the_job(bootstrapped, capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    from lmeval_setup.sandbox import jobs

    code, out, _ = run_cli(capsys, sandbox, *job_args("ci-lint", "-o", "yaml", url=f"{jobs.ENDPOINT}/v1"))
    report = yaml.safe_load(out)
    validate(report, "provision")
    assert code == 1 and report["outcome"] == "lint-failed" and "LME002" in ids(report["findings"])
    assert report["applied"] is False and report["results"] == [] and report["gates"] == []


def test_results_all_namespaces(provisioned, capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    wait_for("the waiting job to finish",
             lambda: (sandbox.kube.get(lmevaljob_path(WAITING_NS, "eval-good")).get("status") or {})
             .get("reason") in ("Succeeded", "Failed"), timeout=240)
    code, out, err = run_cli(capsys, sandbox, "results", "-A", "-o", "json")
    report = json.loads(out)
    validate(report, "results")
    found = {(j["namespace"], j["job"]) for j in report["jobs"]}
    assert code == 0 and (CI_NS, "lmeval-ci") in found, err
    assert yaml.safe_load(run_cli(capsys, sandbox, "results", "-A", "-o", "yaml")[1]) == report
    # A name with -A: that job wherever it is.
    code, out, _ = run_cli(capsys, sandbox, "results", "-A", "lmeval-ci", "-o", "json")
    assert code == 0 and [j["namespace"] for j in json.loads(out)["jobs"]] == [CI_NS]
    code, _, err = run_cli(capsys, sandbox, "results", "-A", "nope")
    assert code == 2 and err.strip() == "error: LMEvalJob nope not found in any namespace"
    code, out, _ = run_cli(capsys, sandbox, "results", "-n", CI_NS, "--compare", "lmeval-ci", "lmeval-ci",
                           "-o", "json")
    assert code == 0
    validate(json.loads(out), "compare")


def test_doctor_several_jobs_live_and_an_unknown_one(provisioned, capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys, sandbox, "doctor", "-A", "--job", "lmeval-ci", "--job", "eval-good",
                             "-o", "json")
    validate(json.loads(out), "findings")
    assert code in (0, 1), err
    code, out, err = run_cli(capsys, sandbox, "doctor", "-n", CI_NS, "--job", "lmeval-ci", "--job", "nope")
    assert code == 2 and out == "" and err.strip() == f"error: job nope not found in {CI_NS}"


def test_verbose_logs_requests_quiet_drops_progress(provisioned, capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(capsys, sandbox, "results", "-n", CI_NS, "-v")
    assert code == 0 and "api: GET /apis/trustyai.opendatahub.io/v1alpha1/namespaces/ci-outputs/lmevaljobs" in err
    code, _, err = run_cli(capsys, sandbox, *job_args(CI_NS, "-q"))
    assert code == 0 and err == "", err
    code, _, err = run_cli(capsys, sandbox, *job_args(CI_NS))
    assert code == 0 and "unchanged" in err


# -- revert last ----------------------------------------------------------------------------------------
def test_revert_json_validates(bootstrapped, provisioned, capsys, sandbox) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys, sandbox, "revert", "-o", "json")
    report = json.loads(out)
    validate(report, "bootstrap")
    assert code == 0 and report["playbook"] == "revert", err
    cluster = report["clusters"]["cluster"]
    assert cluster["errors"] == [] and cluster["restored"]
    dsc = sandbox.kube.list_items(resource_path(R.DSC_GROUP, "v1", "datascienceclusters"))
    assert [d["spec"]["components"]["trustyai"]["managementState"] for d in dsc] == ["Removed"]
