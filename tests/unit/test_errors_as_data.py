"""Failures are told apart by data the exception or the plan carries, never by class names or message text
(issue 18 item 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.bootstrap.ansible_support import REASON_EXIT_CODES, reason_for
from lmeval_setup.bootstrap.runner import ClusterResult, Step
from lmeval_setup.bootstrap.wait import KServeMissing
from lmeval_setup.errors import (
    BAD_KUBECONFIG,
    UNREACHABLE,
    WRONG_CONTEXT,
    ClusterError,
    ExitCode,
    OpenShiftAIMissing,
    PrerequisiteError,
    UsageError,
    WaitTimeout,
)
from lmeval_setup.kube.client import ApiError, Kube, WatchInterrupted


def test_the_reason_is_the_exceptions_attribute() -> None:
    class KServeStillMissing(KServeMissing):  # a refinement keeps its parent's meaning
        pass

    assert reason_for(KServeStillMissing("InferenceService CRD missing")) == "kserve_missing"
    assert KServeMissing("x").rule == "LME108"
    assert reason_for(OpenShiftAIMissing("no DSC API")) == "no_openshift_ai"
    assert reason_for(WaitTimeout("still waiting")) == "timeout"
    assert reason_for(PrerequisiteError("something missing")) == "prerequisite"
    assert reason_for(PrerequisiteError("kueue", reason="kueue_managed")) == "kueue_managed"
    assert reason_for(UsageError("bad flag")) == "error"


def _blocked(msg: str, reason: str) -> ClusterResult:
    blocker = {"rule": "LME108" if reason == "kserve_missing" else "LME109", "reason": reason,
               "message": "m", "fix": "f"}
    return ClusterResult("c", steps=[Step("c", "Preflight | stop before any write", status="failed", msg=msg)],
                         plan={"blockers": [blocker]})


def test_a_blocked_run_exits_4_whatever_the_message_says() -> None:
    assert _blocked("TrustyAI cannot become ready: KServe is missing", "kserve_missing").exit_code == \
        ExitCode.PREREQUISITE
    assert _blocked("DataScienceCluster default-dsc cannot be updated", "kueue_managed").exit_code == \
        ExitCode.PREREQUISITE
    unblocked = ClusterResult("c", steps=[Step("c", "Enable | patch", status="failed", msg="[LME108] looks like one")])
    assert unblocked.exit_code == ExitCode.FINDINGS


def _connect_error(tmp_path: Path, config: dict[str, Any], context: str | None = None) -> ClusterError:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config) if config else "clusters: [unclosed\n")
    with pytest.raises(ClusterError) as exc:
        Kube.connect(str(path), context)
    return exc.value


KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "here",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t0ken-value"}}],
    "contexts": [{"name": "here", "context": {"cluster": "c", "user": "u"}}],
}


def test_a_cluster_errors_kind_is_data_from_the_kubeconfig_loader(tmp_path: Path) -> None:
    """kubectl's `--context nope` is wrong_context (the message, "Expected object with name nope in
    kube-config/contexts list", matched none of the words the text test looked for: it said unreachable)."""
    assert reason_for(_connect_error(tmp_path, KUBECONFIG, context="nope")) == WRONG_CONTEXT
    assert reason_for(_connect_error(tmp_path, {**KUBECONFIG, "current-context": ""})) == WRONG_CONTEXT
    assert reason_for(_connect_error(tmp_path, {**KUBECONFIG, "clusters": []})) == BAD_KUBECONFIG
    assert reason_for(_connect_error(tmp_path, {})) == BAD_KUBECONFIG  # not YAML
    assert {REASON_EXIT_CODES[r] for r in (UNREACHABLE, WRONG_CONTEXT, BAD_KUBECONFIG)} == {ExitCode.CLUSTER}


def test_a_cluster_errors_text_chooses_nothing() -> None:
    """Words in a message (a host or job named after them) never change the kind."""
    assert reason_for(ClusterError("cannot reach the cluster at https://context-not-found.example")) == UNREACHABLE
    assert reason_for(ClusterError("cannot reach the cluster at https://unauthorised.example")) == UNREACHABLE
    assert reason_for(ClusterError("kubeconfig k: unusable", reason=WRONG_CONTEXT)) == WRONG_CONTEXT
    assert reason_for(ApiError(401, "Unauthorized", "unauthorised: rejected")) == "unauthorised"
    assert reason_for(ApiError(403, "Forbidden", "no")) == "forbidden"
    assert reason_for(ApiError(404, "NotFound", "unauthorised context not found")) == "api_error"
    assert reason_for(ValueError("context not found")) == "error"


class _Watching:
    """A Kube whose watch raises what it is given: the wait decides by the exception's type."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def watch(self, *_: Any, **__: Any) -> Any:
        raise self.error


def test_the_job_wait_retries_an_interrupted_watch_by_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmeval_setup.provision import wait

    monkeypatch.setattr(wait.time, "sleep", lambda _: None)
    job = {"metadata": {"resourceVersion": "1"}}
    broken = WatchInterrupted("watch on /x interrupted: connection reset")
    assert wait._watch_until_finished(_Watching(broken), "/x", "j", job, 5,
                                      lambda _: None) is None  # type: ignore[arg-type]
    gone = ClusterError("LMEvalJob interrupted-eval was deleted while waiting for it")  # "interrupted", as a name
    with pytest.raises(ClusterError, match="was deleted"):
        wait._watch_until_finished(_Watching(gone), "/x", "j", job, 5, lambda _: None)  # type: ignore[arg-type]
