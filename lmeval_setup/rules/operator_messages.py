"""What every message of the real TrustyAI LM-Eval controller and driver means: a rule, or not user-facing.

The messages are extracted from the operator sources of every release line by
tools/extract_operator_messages.py (a go/ast walk over controllers/lmes/, cmd/lmes_driver/, api/lmes/): the
errors that reach `.status.message` through err.Error(), literal status messages, events, status reasons and
what the driver logs or prints. This table maps each of them; tests/unit/test_operator_messages.py fails on a
message no entry matches, and docs/rules.md reports the coverage per release line.

An entry's pattern is searched in the message's Go format string (e.g. "invalid git URL: %w") and, written
without anchors or verbs, also in the real text a cluster shows ("Input validation failed: invalid git URL:
git URL contains shell metacharacters"), so the doctor classifies a status message with the same table.
Order matters: the first matching entry wins, so specific entries come before families.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from lmeval_setup.rules.guarded import GuardedPattern

# Kinds produced by tools/operator_messages/main.go.
ALL_KINDS = frozenset({"error", "status", "event", "reason", "driver-log", "driver-print"})
# Where a user can see a message: status.message (error, status), `oc describe` (event), pod logs (driver-*).
USER_VISIBLE_KINDS = ALL_KINDS


@dataclass(frozen=True)
class MessageMapping:
    # Compiled when a message first needs it, and only searched in a message holding its literal
    # (rules.guarded): a cold doctor classifies a few status messages, not the whole table.
    pattern: GuardedPattern
    rule: str | None  # the rule that explains the message (its fix is the rule's)
    _: KW_ONLY
    not_user_facing: str | None = None  # why no rule is needed
    kinds: frozenset[str] = ALL_KINDS

    def matches(self, kind: str, text: str) -> bool:
        return kind in self.kinds and self.pattern.search(text) is not None


def _rule(pattern: str, rule_id: str, *kinds: str) -> MessageMapping:
    return MessageMapping(GuardedPattern(pattern), rule_id, not_user_facing=None, kinds=frozenset(kinds) or ALL_KINDS)


def _quiet(pattern: str, reason: str, *kinds: str) -> MessageMapping:
    return MessageMapping(GuardedPattern(pattern), None, not_user_facing=reason, kinds=frozenset(kinds) or ALL_KINDS)


_LIFECYCLE = "a Normal event of the job's lifecycle (finalizer, pod created, completed, cancelled), not a failure"
_PROGRESS = "progress or success text the driver writes while the job runs normally"
_NIL_GUARD = "a nil guard in Go code; no API object can reach it"
_WRAPPER_LOG = ("the driver's log line next to an error it also returns; the error's own text (mapped) is what "
                "status.message shows")

OPERATOR_MESSAGES: tuple[MessageMapping, ...] = (
    # --- permissions (controller: config.go / lmevaljob_controller.go) ---------------------------------
    _rule(r"code execution not allowed by the operator", "LME103"),
    _rule(r"online mode not allowed by the operator", "LME102"),
    _rule(r"fetching external git tasks is not allowed when allowOnline is false", "LME001"),
    # --- Kueue: every line's controller refuses a job without a queue when the job manager is enabled --
    _rule(r"requires kueue\.x-k8s\.io/queue-name label", "LME034"),
    # --- the operator's own configuration (trustyai-service-operator-config) ----------------------------
    _rule(r"Failed to read configuration|some settings in the configmap are invalid|invalid PullPolicy|"
          r"can not handle the config|resolving LMES (?:pod|driver) image", "LME035"),
    # --- custom tasks from git (driver) ---------------------------------------------------------------
    _rule(r"failed to clone git repository|failed to checkout (?:branch|commit)|"
          r"specified path '.*' does not exist in the repository|failed to copy tasks to|"
          r"failed to set up custom tasks", "LME031"),
    # --- S3 offline storage and OCI upload (driver) ---------------------------------------------------
    _rule(r"failed to download assets from S3", "LME032", "error"),
    _rule(r"OCI_REGISTRY environment variable not set|failed to upload results to OCI", "LME033", "error"),
    # --- input validation (validation.go): every one ends as "Input validation failed: ..." -----------
    _rule(r"^Input validation failed", "LME015"),
    _rule(r"^invalid (?:model|model arguments|task names|generation arguments|limit|S3 path|OCI authentication|"
          r"batch size|pod volumes|sidecar|git URL|git path|git branch|git commit|task recipes|JSON): ", "LME015"),
    _rule(r"^(?:%s|recipe|sidecar|task name|volume)\[%d\]", "LME015"),
    _rule(r"cannot be empty|contains invalid characters|contains shell metacharacters|"
          r"contains path traversal sequence|contains (?:dangerous|invalid) pattern|pattern not allowed|"
          r"dangerous character combinations|must be a valid|must be one of|must be 'auto'|"
          r"extra data found after valid JSON|hostPath volumes are not permitted|"
          r"OCI authentication (?:requires|cannot have|with username)", "LME015", "error"),
    _rule(r"failed to create custom cards", "LME037", "error"),
    # --- custom recipes (validateCustomRecipes): refused before a pod exists --------------------------
    _rule(r"custom card|custom template|custom metric|custom task|custom system prompt|"
          r"no loader definition|custom task's type is incorrect|^missing %s definition", "LME015", "error"),
    # --- the pod is gone or not the job's ---------------------------------------------------------------
    _rule(r"pod doesn't have proper entry in the OwnerReferences", "LME036", "error"),
    _rule(r"the pod for the LMEvalJob %s in namespace %s is gone", "LME036", "event"),
    # --- the driver (init container copies it; main runs it; the controller execs --get-status) -------
    _rule(r"copy this binary to|failed to file executable|failed to copy +binary", "LME037"),
    _rule(r"no user program|empty args", "LME037"),
    _rule(r"failed to detect available device|failed to find the matched output", "LME037", "error"),
    _rule(r"failed to create task recipes|failed to create custom (?:artifact|cards)|"
          r"directories for custom artifacts|invalid custom artifact type|can not create a directory", "LME037",
          "error"),
    _rule(r"failed to initialize the driver|failed to get status|json serialization failed|failed to shutdown|"
          r"failed to retrieve the results", "LME037", "driver-log"),
    _quiet(r"^Driver\.(?:NewDriver|Run) failed$", _WRAPPER_LOG, "driver-log"),
    # --- CA bundle auto-injection and the generation annotation (3.5): returned to controller-runtime,
    # which logs and requeues; the job keeps no status, so the doctor sees it stuck (LME024) and attaches
    # the operator log's lines about the job.
    _quiet(r"^no CA bundle data found$", "a sentinel the controller handles itself: it proceeds without CA "
           "auto-injection", "error"),
    _rule(r"CA bundle|merged CA ConfigMap|failed to update generation annotation", "LME024", "error"),
    # --- not failures ------------------------------------------------------------------------------------
    _quiet(r"^(?:context is nil|job cannot be nil|OCI spec cannot be nil)$", _NIL_GUARD, "error"),
    _quiet(r"^(?:added the finalizer|removed finalizer|the LMEvalJob %s in namespace %s created a pod|"
           r"The LMEvalJob %s in namespace %s has (?:completed|cancelled))", _LIFECYCLE, "event"),
    _quiet(r"^(?:initializing the evaluation job|job completed|)$", _PROGRESS, "status"),
    _quiet(r"^(?:NoReason|Succeeded|Cancelled)$", "a status.reason of a job that did not fail", "reason"),
    _quiet(r"^Failed$", "status.reason of every failure; status.message (mapped above) says which", "reason"),
    _quiet(r"^(?:Downloading assets from S3|Uploading results to OCI registry)$", _PROGRESS, "driver-print"),
    _quiet(r"^(?:\[DEBUG\] |  |\n$)", "debug output of the OCI upload (command line, result file listing)",
           "driver-print"),
)


def mapping_for(kind: str, text: str) -> MessageMapping | None:
    """The first entry that maps this message (a Go format string or a real message), or None."""
    return next((m for m in OPERATOR_MESSAGES if m.matches(kind, text)), None)


def rule_for_status_message(message: str) -> str | None:
    """The rule for a failed job's real status.message, when the operator or driver wrote it."""
    found = mapping_for("error", message) or mapping_for("status", message)
    return found.rule if found else None
