"""Exit codes and the exceptions that carry them.

One table for every command (doctor, lint, bootstrap, provision, ...), documented in the README.
Commands raise `LmevalError` subclasses; the CLI turns them into one line on stderr and the code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # findings at/above --fail-on, a failed gate, a failed bootstrap step
    USAGE = 2  # bad flags, unreadable or malformed input
    CLUSTER = 3  # unreachable, unauthorised, wrong context
    PREREQUISITE = 4  # no OpenShift AI, no KServe, RBAC preflight failed, binaries missing
    TIMEOUT = 5
    INTERNAL = 70
    INTERRUPTED = 130  # the shell's 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


# What each code means, as `--help` says it (the README's exit-code table says the same at length).
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FINDINGS: "findings / failed gate / failed step",
    ExitCode.USAGE: "usage or unreadable input",
    ExitCode.CLUSTER: "cluster unreachable or unauthorised",
    ExitCode.PREREQUISITE: "prerequisite missing",
    ExitCode.TIMEOUT: "timeout",
    ExitCode.INTERNAL: "internal error",
    ExitCode.INTERRUPTED: "interrupted (SIGINT)",
    ExitCode.TERMINATED: "terminated (SIGTERM)",
}


class LmevalError(Exception):
    """An error the user can act on: printed as one line, mapped to an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL
    # What went wrong as data, for callers that must tell failures apart (the Ansible modules' `reason`,
    # the CLI's exit code): a stable word, and the rule ID when a catalog rule names the failure.
    reason: str = "error"
    rule: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        if reason is not None:
            self.reason = reason

    def one_line(self) -> str:
        text = str(self).replace("\n", " ").strip()
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(LmevalError):
    exit_code = ExitCode.USAGE


# The kinds of ClusterError, as data (bootstrap's modules report them as their failure `reason`; each is exit 3).
UNREACHABLE, WRONG_CONTEXT, BAD_KUBECONFIG = "unreachable", "wrong_context", "bad_kubeconfig"


class ClusterError(LmevalError):
    """The cluster cannot be talked to: by default a transport failure; the kubeconfig's loader says
    WRONG_CONTEXT or BAD_KUBECONFIG when the problem is on this side."""

    exit_code = ExitCode.CLUSTER
    reason = UNREACHABLE


class PrerequisiteError(LmevalError):
    exit_code = ExitCode.PREREQUISITE
    reason = "prerequisite"


class OpenShiftAIMissing(PrerequisiteError):
    """The cluster answers but has no DataScienceCluster API (doctor rule LME110)."""

    reason = "no_openshift_ai"
    rule = "LME110"


class WaitTimeout(LmevalError):
    exit_code = ExitCode.TIMEOUT
    reason = "timeout"

