"""What the collection's modules share: one `reason` per kind of failure (connecting is the collection's
plugins/module_utils/k8s_auth.py, with kubernetes.core's options, and bootstrap/k8s_auth.py).

The reason travels in the failed task's result; runner.py maps it to the exit code (3 cluster,
4 prerequisite, 5 timeout), so the CLI answers one line and the right code even through Ansible.
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.errors import BAD_KUBECONFIG, UNREACHABLE, WRONG_CONTEXT, ExitCode, LmevalError
from lmeval_setup.kube.client import ApiError

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
