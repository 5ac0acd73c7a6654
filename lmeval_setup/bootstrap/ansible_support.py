"""What the collection's modules share: connecting, and one `reason` per kind of failure.

The reason travels in the failed task's result; runner.py maps it to the exit code (3 cluster,
4 prerequisite, 5 timeout), so the CLI answers one line and the right code even through Ansible.
"""

from __future__ import annotations

import os
from typing import Any

from lmeval_setup.errors import BAD_KUBECONFIG, UNREACHABLE, WRONG_CONTEXT, ExitCode, LmevalError
from lmeval_setup.kube.client import ApiError, Kube

CONNECTION_ARGS: dict[str, Any] = {
    "kubeconfig": {"type": "path", "required": False},
    "context": {"type": "str", "required": False},
}

REASON_EXIT_CODES: dict[str, ExitCode] = {
    UNREACHABLE: ExitCode.CLUSTER,
    WRONG_CONTEXT: ExitCode.CLUSTER,
    BAD_KUBECONFIG: ExitCode.CLUSTER,
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


# An API answer's kind is its status code (ApiError.reason is the server's reason phrase, e.g. "NotFound").
_API_STATUS_REASONS = {401: "unauthorised", 403: "forbidden"}


def reason_for(exc: BaseException) -> str:
    """A stable machine word for the failure kind, read from the exception's data, never its text: every
    LmevalError says which (no_openshift_ai, kserve_missing, timeout, unreachable, wrong_context, ...)."""
    if isinstance(exc, ApiError):
        return _API_STATUS_REASONS.get(exc.status, "api_error")
    if isinstance(exc, LmevalError):
        return exc.reason
    return "error"


def fail(module: Any, exc: BaseException, **extra: Any) -> None:
    message = exc.one_line() if isinstance(exc, LmevalError) else f"{type(exc).__name__}: {exc}"
    module.fail_json(msg=message, reason=reason_for(exc), **extra)
