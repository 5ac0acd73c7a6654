"""What the collection's modules share: connecting, and one `reason` per kind of failure.

The reason travels in the failed task's result; runner.py maps it to the exit code (3 cluster,
4 prerequisite, 5 timeout), so the CLI answers one line and the right code even through Ansible.
"""

from __future__ import annotations

import os
from typing import Any

from lmeval_setup.errors import (
    ClusterError,
    ExitCode,
    LmevalError,
    PrerequisiteError,
    WaitTimeout,
)
from lmeval_setup.kube.client import ApiError, Kube

CONNECTION_ARGS: dict[str, Any] = {
    "kubeconfig": {"type": "path", "required": False},
    "context": {"type": "str", "required": False},
}

REASON_EXIT_CODES: dict[str, ExitCode] = {
    "unreachable": ExitCode.CLUSTER,
    "wrong_context": ExitCode.CLUSTER,
    "unauthorised": ExitCode.CLUSTER,
    "no_openshift_ai": ExitCode.PREREQUISITE,
    "forbidden": ExitCode.PREREQUISITE,
    "rbac": ExitCode.PREREQUISITE,
    "kserve_missing": ExitCode.PREREQUISITE,
    "kueue_managed": ExitCode.PREREQUISITE,
    "prerequisite": ExitCode.PREREQUISITE,
    "timeout": ExitCode.TIMEOUT,
}


def connect(params: dict[str, Any]) -> Kube:
    kubeconfig = params.get("kubeconfig") or None
    if kubeconfig:
        kubeconfig = os.path.abspath(os.path.expanduser(kubeconfig))
    return Kube.connect(kubeconfig, params.get("context") or None)


def reason_for(exc: BaseException) -> str:
    """A stable machine word for the failure kind (order matters: subclasses first)."""
    text = str(exc)
    if isinstance(exc, (PrerequisiteError, WaitTimeout)):
        return exc.reason  # the exception says which (no_openshift_ai, kserve_missing, timeout, ...)
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return "unauthorised"
        if exc.status == 403:
            return "forbidden"
        return "api_error"
    if isinstance(exc, ClusterError):
        if "context" in text and ("not found" in text or "does not exist" in text or "Expected key" in text):
            return "wrong_context"
        if "unauthorised" in text or "Unauthorized" in text:
            return "unauthorised"
        return "unreachable"
    return "error"


def fail(module: Any, exc: BaseException, **extra: Any) -> None:
    message = exc.one_line() if isinstance(exc, LmevalError) else f"{type(exc).__name__}: {exc}"
    module.fail_json(msg=message, reason=reason_for(exc), **extra)
