"""The simulated TrustyAI operator's LM-Eval controller: it *is* the behaviour of the operator pod.

It only acts while the Deployment `trustyai-service-operator-controller-manager` has a Running pod
(found through the Deployment's own `.spec.selector`, whatever the release's labels are). When a new
pod starts (new UID) it reads the `lmes-*` keys of `trustyai-service-operator-config` ONCE, like
`constructOptionsFromConfigMap` at start-up: edits to the ConfigMap do nothing until the pod is
replaced (deleted, or `kubectl rollout restart`). On releases whose `Release.permissions_read_per_job`
is true (RHOAI 2.25+ / ODH 2.35+, `ReadEffectivePermissions`), the two permission keys are re-read for
every new job from that ConfigMap and then overridden by `trustyai-dsc-config`
(`eval.lmeval.permitOnline` / `permitCodeExecution`) when it exists.

Per LMEvalJob (watched in all namespaces, re-checked every `lmes-pod-checking-interval`), following
controllers/lmes/lmevaljob_controller.go (../shared/reference/trustyai-operator.md §1.3, §3, §4):
finalizer first; `Input validation failed: ...` → Complete/Failed; else the pod named after the job
(ownerReference, labels, init container `driver`, container `main` with generateCmd/generateArgs,
env with protected names dropped, the code-execution block and the offline block, security contexts,
volumes), state Scheduled with podName/lastScheduleTime; then Running with message/progressBars and
finally Complete with the driver's reason/message/results. Deleting a job deletes its pod and removes
the finalizer. Operator log lines go to the manager container's log (the kubelet serves it).

Simpler than reality (documented for the README): the status comes from the driver's log lines read
through `pods/log` instead of `pods/exec driver --get-status` (the kubelet has no exec), and the driver
exits on its own a few seconds after reporting instead of waiting for `--shutdown`; `spec.suspend` is
ignored, as it is on every shipped release without the JOB_MGR service; S3/OCI outputs, custom git
tasks, Unitxt custom artifacts and CA-bundle injection are not built; a completed job is not re-run
when its spec changes; there is no leader election (the newest Running pod is the leader).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import re
import threading
import time
from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.errors import ClusterError
from lmeval_setup.kube.client import JSON, MERGE_PATCH, ApiError, Kube, resource_path
from lmeval_setup.platform.releases import (
    CM_ALLOW_CODE,
    CM_ALLOW_ONLINE,
    DSC_CM_CODE,
    DSC_CM_ONLINE,
    DSC_CONFIGMAP,
    LMEVAL_GROUP,
    LMEVAL_VERSION,
    OPERATOR_CONFIGMAP,
    OPERATOR_CONTAINER,
    OPERATOR_DEPLOYMENT,
    Profile,
    Release,
)
from lmeval_setup.rules.models import HF_HOME, MODEL_TYPES
from lmeval_setup.sandbox import operator_build, realoperator
from lmeval_setup.sandbox.apiwatch import informer
from lmeval_setup.sandbox.driverlog import DRIVER_BIN, INCLUDE_PATH, OUTPUT_PATH, parse_driver_status
from lmeval_setup.sandbox.driverlog import progress_bars as parse_progress_bars
from lmeval_setup.sandbox.kubelet import POD_LOGS, LogStore
from lmeval_setup.sandbox.scripts import LogLine, stamp_line

FINALIZER = "trustyai.opendatahub.io/lmes-finalizer"
EVENT_SOURCE = "lm-eval-service-controller"
POD_NAME_LABEL = "app.kubernetes.io/name"
POD_NAME_VALUE = "ta-lmes"
DRIVER_PORT = 18080
PROTECTED_ENV = frozenset({
    "TRUST_REMOTE_CODE", "HF_DATASETS_TRUST_REMOTE_CODE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE", "HF_EVALUATE_OFFLINE", "UNITXT_ALLOW_UNVERIFIED_CODE", "HF_ALLOW_CODE_EVAL",
})
DEFAULT_IMAGES = {
    "rhoai": ("quay.io/trustyai/ta-lmes-job:latest", "quay.io/trustyai/ta-lmes-driver:latest"),
    "odh": ("quay.io/opendatahub/ta-lmes-job:odh-stable", "quay.io/opendatahub/ta-lmes-driver:latest"),
}
JOBS = resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs")
WATCH_TIMEOUT_SECONDS = 30


# ------------------------------------------------------------------------------------------------
# Options from the ConfigMap (constructOptionsFromConfigMap)


@dataclass(frozen=True)
class Options:
    pod_image: str
    driver_image: str
    _: KW_ONLY
    pull_policy: str = "Always"
    default_batch_size: str = "1"
    max_batch_size: int = 24
    detect_device: bool = True
    allow_online: bool = False
    allow_code_execution: bool = False
    pod_checking_interval: float = 10.0
    invalid: tuple[str, ...] = ()


def _duration(text: str) -> float | None:
    """A Go duration such as '10s', '1m30s', '500ms'."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def _go_bool(text: str) -> bool | None:
    lowered = text  # strconv.ParseBool does not trim: " true" is invalid
    if lowered in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if lowered in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def options_from_configmap(data: dict[str, str], release: Release) -> Options:
    """Missing keys keep the code defaults; invalid values too, except that an invalid bool for the
    permission keys becomes `DefaultDetectDevice` (true): a quirk of the real parser."""
    pod_image, driver_image = DEFAULT_IMAGES[release.platform]
    invalid: list[str] = []
    values: dict[str, Any] = {
        "pod_image": data.get("lmes-pod-image") or pod_image,
        "driver_image": data.get("lmes-driver-image") or driver_image,
    }
    if "lmes-image-pull-policy" in data:
        if data["lmes-image-pull-policy"] in ("Always", "Never", "IfNotPresent"):
            values["pull_policy"] = data["lmes-image-pull-policy"]
        else:
            invalid.append("lmes-image-pull-policy")
    if "lmes-default-batch-size" in data:
        values["default_batch_size"] = data["lmes-default-batch-size"]
    if "lmes-max-batch-size" in data:
        if data["lmes-max-batch-size"].isdigit():
            values["max_batch_size"] = int(data["lmes-max-batch-size"])
        else:
            invalid.append("lmes-max-batch-size")
    if "lmes-pod-checking-interval" in data:
        seconds = _duration(data["lmes-pod-checking-interval"])
        if seconds:
            values["pod_checking_interval"] = seconds
        else:
            invalid.append("lmes-pod-checking-interval")
    for key, attr in (("lmes-detect-device", "detect_device"), (CM_ALLOW_ONLINE, "allow_online"),
                      (CM_ALLOW_CODE, "allow_code_execution")):
        if key in data:
            parsed = _go_bool(data[key])
            if parsed is None:
                invalid.append(key)
                parsed = True  # DefaultDetectDevice
            values[attr] = parsed
    return Options(**values, invalid=tuple(invalid))


# ------------------------------------------------------------------------------------------------
# ValidateUserInput (controllers/lmes/validation.go)

_ARG_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
_ARG_VALUE = re.compile(r"^[a-zA-Z0-9._/:\- ]+$")
_TASK_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
_LIMIT = re.compile(r"^(\d+(\.\d+)?|\d*\.\d+)$")
_SHELL_CHARS = (";", "&", "|", "$", "`", "(", ")", "<", ">", '"', "'", "\\", "\n", "\r", "\t")


def _has_shell_metacharacters(text: str) -> bool:
    return any(ch in text for ch in _SHELL_CHARS)


def _validate_args(args: list[JSON], kind: str) -> str:
    for i, arg in enumerate(args):
        name, value = str(arg.get("name", "")), str(arg.get("value", ""))
        if not name:
            return f"{kind}[{i}] name: argument name cannot be empty"
        if not _ARG_NAME.match(name):
            return f"{kind}[{i}] name: argument name contains invalid characters (only alphanumeric, ., _, - allowed)"
        if not _ARG_VALUE.match(value):
            return (f"{kind}[{i}] value: argument value contains invalid characters "
                    "(only alphanumeric, ., _, /, :, -, and spaces allowed)")
        if _has_shell_metacharacters(value):
            return f"{kind}[{i}] value: argument value contains shell metacharacters"
    return ""


def validate_job(spec: JSON) -> str:
    """The controller's input validation; '' when the job passes, else the message detail."""
    model = str(spec.get("model", ""))
    if not model:
        return "invalid model: model name cannot be empty"
    if model not in MODEL_TYPES:
        return "invalid model: model name must be one of: hf, local-completions, local-chat-completions, watsonx_llm"
    problem = _validate_args(spec.get("modelArgs") or [], "model argument")
    if problem:
        return f"invalid model arguments: {problem}"
    for i, task in enumerate((spec.get("taskList") or {}).get("taskNames") or []):
        if not task:
            return f"invalid task names: task name[{i}]: task name cannot be empty"
        if not _TASK_NAME.match(task):
            return (f"invalid task names: task name[{i}]: task name contains invalid characters "
                    "(only alphanumeric, ., _, - allowed)")
    problem = _validate_args(spec.get("genArgs") or [], "generation argument")
    if problem:
        return f"invalid generation arguments: {problem}"
    limit = str(spec.get("limit") or "")
    if limit and not _LIMIT.match(limit):
        return "invalid limit: limit must be a valid number"
    if spec.get("batchSize") is not None:
        size = str(spec["batchSize"])
        if not size:
            return "invalid batch size: batch size cannot be empty"
        if _has_shell_metacharacters(size):
            return "invalid batch size: batch size contains shell metacharacters"
        if not re.match(r"^(auto|auto:\d+|\d+)$", size):
            return "invalid batch size: batch size must be 'auto', 'auto:N', or a positive integer"
    # No release validates systemInstruction: ValidateSystemInstruction exists but is never called.
    return ""


# ------------------------------------------------------------------------------------------------
# The pod (CreatePod, generateCmd, generateArgs)


def effective_batch_size(spec: JSON, options: Options) -> str:
    size = spec.get("batchSize")
    if size is None:
        return options.default_batch_size
    size = str(size)
    if size.startswith("auto"):
        return size
    if size.isdigit() and int(size) > 0:
        return str(min(int(size), options.max_batch_size))
    return "1"


def generate_cmd(spec: JSON, options: Options, online: bool, allow_online_flag: bool = True) -> list[str]:
    cmd = [DRIVER_BIN, "--output-path", OUTPUT_PATH]
    if options.detect_device:
        cmd.append("--detect-device")
    if online and allow_online_flag:  # Release.allow_online_flag: the 2.16 driver has no such flag
        cmd.append("--allow-online")
    return [*cmd, "--"]


def generate_args(spec: JSON, options: Options, unsafe_code_flags: bool = True) -> list[str]:
    args = ["python", "-m", "lm_eval", "--output_path", OUTPUT_PATH, "--model", str(spec.get("model", ""))]
    model_args = spec.get("modelArgs") or []
    if model_args:
        args += ["--model_args", ",".join(f"{a.get('name')}={a.get('value', '')}" for a in model_args)]
    task_list = spec.get("taskList") or {}
    tasks = list(task_list.get("taskNames") or [])
    tasks += [f"tr_{i}" for i, _ in enumerate(task_list.get("taskRecipes") or [])]
    args += ["--tasks", ",".join(tasks), "--include_path", INCLUDE_PATH]
    if spec.get("numFewShot") is not None:
        args += ["--num_fewshot", str(spec["numFewShot"])]
    if spec.get("limit"):
        args += ["--limit", str(spec["limit"])]
    gen_args = spec.get("genArgs") or []
    if gen_args:
        args += ["--gen_kwargs", ",".join(f"{a.get('name')}={a.get('value', '')}" for a in gen_args)]
    if spec.get("logSamples"):
        args.append("--log_samples")
    args += ["--batch_size", effective_batch_size(spec, options)]
    if spec.get("systemInstruction"):
        args += ["--system_instruction", str(spec["systemInstruction"])]
    chat = spec.get("chatTemplate") or {}
    if chat.get("enabled"):
        args.append("--apply_chat_template")
        if chat.get("name"):
            args.append(str(chat["name"]))
    # Only the 2.25 line on passes it (Release.unsafe_code_flags); older lines never do.
    if spec.get("allowCodeExecution") and unsafe_code_flags:
        args.append("--confirm_run_unsafe_code")
    return args


def build_env(spec: JSON, online: bool, code_execution: bool, unsafe_code_flags: bool = True) -> list[JSON]:
    container = (spec.get("pod") or {}).get("container") or {}
    # Before 2.25 HF_ALLOW_CODE_EVAL is neither set nor protected: a user's value passes through.
    protected = PROTECTED_ENV if unsafe_code_flags else PROTECTED_ENV - {"HF_ALLOW_CODE_EVAL"}
    env = [e for e in container.get("env") or [] if e.get("name") not in protected]
    env += [{"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"}, {"name": "DO_NOT_TRACK", "value": "1"}]
    on = code_execution
    env += [
        {"name": "TRUST_REMOTE_CODE", "value": "1" if on else "0"},
        {"name": "HF_DATASETS_TRUST_REMOTE_CODE", "value": "1" if on else "0"},
        {"name": "UNITXT_ALLOW_UNVERIFIED_CODE", "value": "True" if on else "False"},
    ]
    if unsafe_code_flags:
        env.append({"name": "HF_ALLOW_CODE_EVAL", "value": "1" if on else "0"})
    if not online:
        env += [{"name": name, "value": "1"} for name in
                ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_EVALUATE_OFFLINE")]
        env.append({"name": "UNITXT_USE_ONLY_LOCAL_CATALOGS", "value": "True"})
    return env


def build_pod(job: JSON, options: Options, *, online: bool, code_execution: bool,
              unsafe_code_flags: bool = True, allow_online_flag: bool = True) -> JSON:
    meta, spec = job["metadata"], job.get("spec") or {}
    pod_spec = spec.get("pod") or {}
    container = pod_spec.get("container") or {}
    default_sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    mounts = [{"name": "shared", "mountPath": "/opt/app-root/src/bin"}]
    volumes: list[JSON] = [{"name": "shared", "emptyDir": {}}]
    outputs = spec.get("outputs") or {}
    claim = f"{meta['name']}-pvc" if outputs.get("pvcManaged") else outputs.get("pvcName")
    if claim:
        mounts.append({"name": "outputs", "mountPath": OUTPUT_PATH})
        volumes.append({"name": "outputs", "persistentVolumeClaim": {"claimName": claim, "readOnly": False}})
    offline_claim = (((spec.get("offline") or {}).get("storage")) or {}).get("pvcName")
    if offline_claim:
        mounts.append({"name": "offline", "mountPath": HF_HOME})
        volumes.append({"name": "offline", "persistentVolumeClaim": {"claimName": offline_claim, "readOnly": False}})
    main: JSON = {
        "name": "main",
        "image": options.pod_image,
        "imagePullPolicy": options.pull_policy,
        "ports": [{"name": "driver", "containerPort": DRIVER_PORT, "protocol": "TCP"}],
        "command": generate_cmd(spec, options, online, allow_online_flag),
        "args": generate_args(spec, options, unsafe_code_flags),
        "env": build_env(spec, online, code_execution, unsafe_code_flags),
        "securityContext": container.get("securityContext") or default_sc,
        "volumeMounts": mounts + list(container.get("volumeMounts") or []),
        "resources": container.get("resources") or {},
    }
    pod: JSON = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {POD_NAME_LABEL: POD_NAME_VALUE, **(meta.get("labels") or {})},
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [{
                "apiVersion": f"{LMEVAL_GROUP}/{LMEVAL_VERSION}", "kind": "LMEvalJob", "name": meta["name"],
                "uid": meta["uid"], "controller": True,
            }],
        },
        "spec": {
            "restartPolicy": "Never",
            "securityContext": pod_spec.get("securityContext") or
            {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{
                "name": "driver",
                "image": options.driver_image,
                "imagePullPolicy": options.pull_policy,
                "command": ["/bin/driver", "--copy", f"{DRIVER_BIN}"],
                "securityContext": default_sc,
                "volumeMounts": [{"name": "shared", "mountPath": "/opt/app-root/src/bin"}],
            }],
            "containers": [main, *(pod_spec.get("sideCars") or [])],
            "volumes": volumes + list(pod_spec.get("volumes") or []),
        },
    }
    if pod_spec.get("affinity"):
        pod["spec"]["affinity"] = pod_spec["affinity"]
    return pod


def main_container_failure(pod: JSON) -> str:
    """isContainerFailed: `main` waiting for anything but PodInitializing, or terminated badly."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") != "main":
            continue
        state = status.get("state") or {}
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in ("PodInitializing", "ContainerCreating"):
            return str(waiting.get("reason"))
        terminated = state.get("terminated")
        if terminated and (terminated.get("exitCode") != 0 or terminated.get("reason") != "Completed"):
            return str(terminated.get("reason") or "Error")
    return ""


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------------
# The controller


def _lm_eval_description() -> dict[str, Any]:
    """What a job's `main` runs under the real operator: the job image's lm-eval, or a python without it."""
    from lmeval_setup.sandbox.status import venv_package_version

    python = realoperator.job_venv_python()
    if python is None:
        return {"mode": "none", "detail": "no job image venv (make jobimage) or LMEVAL_SANDBOX_LM_EVAL=none: "
                "jobs find no lm_eval and fail"}
    return {"mode": "real", "version": venv_package_version(python, "lm_eval") or "unknown",
            "detail": "the job image venv, run by the real driver in each job pod"}


class TrustyAIOperator:
    """Reconciles LMEvalJobs while the operator Deployment has a Running pod. `run(stop)` blocks."""

    def __init__(
        self,
        kube: Kube,
        release: Release,
        *,
        namespace: str | None = None,
        log_store: LogStore | None = None,
        profile: Profile | None = None,
        **_: Any,
    ) -> None:
        self.kube = kube
        self.release = release
        # Where the real operator runs (the kubelet runs its manager as a process), this simulator idles.
        self.real = realoperator.use_real_operator(profile) if profile is not None else False
        self.build = operator_build.find(profile.name) if self.real and profile is not None else None
        self.namespace = namespace or release.default_applications_namespace
        self.logs = log_store or POD_LOGS
        self.leader: JSON | None = None  # the operator pod we "are"
        self.options: Options | None = None
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._last_resync = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def describe(self) -> dict[str, dict[str, Any]]:
        """For `sandbox status`: whether the TrustyAI operator is this simulator or the real manager."""
        if self.build is None:
            return {}
        return {"trustyai-operator": {"mode": "real", "commit": self.build.commit[:12],
                                      "detail": f"real manager of line {self.build.line}, run by the kubelet"},
                "lm-eval": _lm_eval_description()}

    def run(self, stop: threading.Event) -> None:
        if self.real:
            stop.wait()
            return
        threading.Thread(target=self._watch_jobs, args=(stop,), daemon=True, name="lmes-watch").start()
        while not stop.is_set():
            try:
                self._follow_operator_pod()
            except ClusterError:  # the apiserver is restarting (fault tests): a real operator retries
                stop.wait(0.5)
                continue
            if self.options is None:
                stop.wait(1.0)
                continue
            now = time.monotonic()
            if now - self._last_resync >= self.options.pod_checking_interval and self._enqueue_all():
                self._last_resync = now
            try:
                key = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            pending = {key}
            with contextlib.suppress(queue.Empty):
                while True:
                    pending.add(self._queue.get_nowait())
            # The operator pod may have been replaced while this thread waited on the queue (a rollout
            # restart): a job is reconciled by the manager that runs when it arrives, with what it loaded.
            try:
                self._follow_operator_pod()
            except ClusterError:
                for item in pending:
                    self._queue.put(item)
                stop.wait(0.5)
                continue
            for namespace, name in sorted(pending):
                try:
                    self.reconcile(namespace, name)
                except ClusterError:
                    self._queue.put((namespace, name))  # retried once the apiserver answers again
                    stop.wait(0.5)
                except ApiError as exc:
                    self.log("ERROR", "Reconciler error", {"namespace": namespace, "name": name, "error": str(exc)})

    def _watch_jobs(self, stop: threading.Event) -> None:
        def changed(kind: str, job: JSON) -> None:
            if kind in ("SYNC", "ADDED", "MODIFIED") and job:
                self._queue.put((job["metadata"]["namespace"], job["metadata"]["name"]))

        informer(self.kube, JOBS, changed, stop, watch_seconds=WATCH_TIMEOUT_SECONDS)

    def _enqueue_all(self) -> bool:
        """Queue every job (the periodic resync); False when the apiserver did not answer, to retry soon.
        A resync that met a restarting apiserver used to end the whole simulator (fault tests, 1 run in ~3)."""
        try:
            items = self.kube.get(JOBS).get("items", [])
        except ClusterError:
            return False
        except ApiError:
            return True
        for job in items:
            self._queue.put((job["metadata"]["namespace"], job["metadata"]["name"]))
        return True

    # -- the operator pod ------------------------------------------------------------------------
    def _running_operator_pod(self) -> JSON | None:
        deployment = self.kube.get_or_none(
            resource_path("apps", "v1", "deployments", self.namespace, OPERATOR_DEPLOYMENT))
        if deployment is None:
            return None
        labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = self.kube.get(resource_path("", "v1", "pods", self.namespace), labelSelector=selector)["items"]
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"
                   and not p["metadata"].get("deletionTimestamp")
                   and all(c.get("ready") for c in p.get("status", {}).get("containerStatuses") or [])]
        return max(running, key=lambda p: p["metadata"].get("creationTimestamp", ""), default=None)

    def _follow_operator_pod(self) -> None:
        try:
            pod = self._running_operator_pod()
        except ApiError:
            pod = None
        if pod is None:
            self.leader, self.options = None, None
            return
        if self.leader is not None and self.leader["metadata"]["uid"] == pod["metadata"]["uid"]:
            return
        self.leader = pod
        try:
            self.options = self._start_up()
        except ApiError:  # its ConfigMap read refused (a restarting apiserver): start up again on the next turn,
            self.leader, self.options = None, None  # as a manager that failed to start is restarted

    def _start_up(self) -> Options | None:
        """What the manager does once at start: read the operator ConfigMap."""
        self.log("INFO", "starting manager", logger="setup")
        path = resource_path("", "v1", "configmaps", self.namespace, OPERATOR_CONFIGMAP)
        config = self.kube.get_or_none(path)
        if config is None:
            self.log("ERROR", "failed to get configmap",
                     {"error": f'configmaps "{OPERATOR_CONFIGMAP}" not found'}, logger="setup")
            return None
        options = options_from_configmap(config.get("data") or {}, self.release)
        if options.invalid:
            self.log("ERROR", "some settings in the configmap are invalid", {"keys": list(options.invalid)})
        self.log("INFO", "Starting Controller", {"controller": "lmevaljob", "controllerGroup": LMEVAL_GROUP,
                                                 "controllerKind": "LMEvalJob"})
        return options

    def log(self, level: str, message: str, fields: JSON | None = None, *, logger: str = "") -> None:
        """A zap console line in the manager container's log (what `oc logs deploy/...` shows)."""
        if self.leader is None:
            return
        text = f"{level}\t{logger + chr(9) if logger else ''}{message}"
        if fields:
            text += "\t" + json.dumps(fields)
        when = dt.datetime.now(dt.UTC)
        self.logs.append(self.leader["metadata"]["uid"], OPERATOR_CONTAINER, stamp_line(LogLine(0, text, "klog"), when),
                         when)

    # -- permissions -----------------------------------------------------------------------------
    def effective_permissions(self) -> tuple[bool, bool]:
        """ReadEffectivePermissions: per job on newer releases (CM, then trustyai-dsc-config wins)."""
        assert self.options is not None
        if not self.release.permissions_read_per_job:
            return self.options.allow_online, self.options.allow_code_execution
        config = self.kube.get_or_none(resource_path("", "v1", "configmaps", self.namespace, OPERATOR_CONFIGMAP))
        if config is None:
            raise LookupError(f'configmaps "{OPERATOR_CONFIGMAP}" not found')
        data = config.get("data") or {}
        online = _go_bool(data.get(CM_ALLOW_ONLINE, "false")) is True
        code = _go_bool(data.get(CM_ALLOW_CODE, "false")) is True
        dsc = self.kube.get_or_none(resource_path("", "v1", "configmaps", self.namespace, DSC_CONFIGMAP))
        if dsc is not None:
            dsc_data = dsc.get("data") or {}
            # It replaces both: a missing or unparsable key is false (detect.effective_permissions).
            online = _go_bool(dsc_data.get(DSC_CM_ONLINE, "")) is True
            code = _go_bool(dsc_data.get(DSC_CM_CODE, "")) is True
        return online, code

    # -- reconcile -------------------------------------------------------------------------------
    def reconcile(self, namespace: str, name: str) -> None:
        if self.options is None:
            return
        job = self.kube.get_or_none(resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace, name))
        if job is None:
            return
        meta = job["metadata"]
        if meta.get("deletionTimestamp"):
            self.handle_deletion(job)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            self._patch_job(job, {"metadata": {"finalizers": [*(meta.get("finalizers") or []), FINALIZER],
                                               "resourceVersion": meta["resourceVersion"]}})
            self.event(job, "Normal", "AttachFinalizer", f"Added finalizer {FINALIZER} to the LMEvalJob {name}")
            return
        status = job.get("status") or {}
        state = status.get("state") or "New"
        if state == "New" or (not status.get("lastScheduleTime") and not status.get("completeTime")
                              and state not in ("Complete", "Cancelled")):
            self.handle_new(job)
        elif state in ("Scheduled", "Running"):
            self.check_scheduled_pod(job)
        elif state == "Cancelled":
            self.handle_cancel(job)

    def _patch_job(self, job: JSON, patch: JSON, status: bool = False) -> JSON:
        meta = job["metadata"]
        path = resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", meta["namespace"], meta["name"],
                             "status" if status else None)
        return dict(self.kube.request("PATCH", path, body=patch, content_type=MERGE_PATCH))

    def set_status(self, job: JSON, **fields: Any) -> None:
        current = job.get("status") or {}
        changed = {k: v for k, v in fields.items() if current.get(k) != v}
        if changed:
            self._patch_job(job, {"status": changed}, status=True)

    def fail(self, job: JSON, message: str) -> None:
        self.set_status(job, state="Complete", reason="Failed", message=message, completeTime=now_rfc3339())

    def handle_new(self, job: JSON) -> None:
        assert self.options is not None
        meta, spec = job["metadata"], job.get("spec") or {}
        problem = validate_job(spec)
        if problem:
            self.log("ERROR", "Input validation failed", {"LMEvalJob": f"{meta['namespace']}/{meta['name']}",
                                                          "error": problem})
            self.fail(job, f"Input validation failed: {problem}")
            return
        try:
            permit_online, permit_code = self.effective_permissions()
        except LookupError as exc:
            self.fail(job, f"Failed to read configuration: {exc}")
            return
        online = bool(spec.get("allowOnline")) and permit_online
        code = bool(spec.get("allowCodeExecution")) and permit_code
        where = {"LMEvalJob": f"{meta['namespace']}/{meta['name']}"}
        if spec.get("allowOnline") and not permit_online:
            self.log("ERROR", "change this setting and redeploy the operator",
                     {**where, "error": "online mode not allowed by the operator"})
        if spec.get("allowCodeExecution"):
            if self.release.unsafe_code_flags:
                self.log("INFO", "Enabling unsafe code execution for LMEvalJob", where)
            if not permit_code:
                self.log("ERROR", "change this setting and redeploy the operator",
                         {**where, "error": "code execution not allowed by the operator"})
        self._ensure_managed_pvc(job)
        pod = build_pod(job, self.options, online=online, code_execution=code,
                        unsafe_code_flags=self.release.unsafe_code_flags,
                        allow_online_flag=self.release.allow_online_flag)
        try:
            self.kube.create(resource_path("", "v1", "pods", meta["namespace"]), pod)
        except ApiError as exc:
            detail = exc.body.get("message") or str(exc)
            self.log("ERROR", "failed to create pod", {**where, "error": detail})
            self.fail(job, detail)
            return
        self.set_status(job, state="Scheduled", podName=meta["name"], lastScheduleTime=now_rfc3339())
        self.event(job, "Normal", "PodCreation", f"The LMEvalJob {meta['name']} in namespace {meta['namespace']} "
                   f"created a pod {meta['name']}")

    def _ensure_managed_pvc(self, job: JSON) -> None:
        managed = ((job.get("spec") or {}).get("outputs") or {}).get("pvcManaged")
        if not managed:
            return
        meta = job["metadata"]
        pvc = {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{meta['name']}-pvc", "namespace": meta["namespace"],
                         "ownerReferences": [{"apiVersion": f"{LMEVAL_GROUP}/{LMEVAL_VERSION}", "kind": "LMEvalJob",
                                              "name": meta["name"], "uid": meta["uid"], "controller": True}]},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": str(managed.get("size") or "1Gi")}}},
        }
        with contextlib.suppress(ApiError):
            self.kube.create(resource_path("", "v1", "persistentvolumeclaims", meta["namespace"]), pvc)

    def _read_main_log(self, namespace: str, pod: str) -> str:
        try:
            return self.kube.pod_log(namespace, pod, "main")
        except ApiError:
            return ""

    def check_scheduled_pod(self, job: JSON) -> None:
        meta = job["metadata"]
        name, namespace = (job.get("status") or {}).get("podName") or meta["name"], meta["namespace"]
        pod = self.kube.get_or_none(resource_path("", "v1", "pods", namespace, name))
        if pod is None:
            self.event(job, "Warning", "PodMissing", f"the pod for the LMEvalJob {meta['name']} in namespace "
                       f"{namespace} is gone")
            self.fail(job, f'pods "{name}" not found')
            return
        owners = pod["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == meta["uid"] for o in owners):
            self.fail(job, "pod doesn't have proper entry in the OwnerReferences")
            return
        log_text = self._read_main_log(namespace, name) if _main_started(pod) else ""
        final = parse_driver_status(log_text) if log_text else None
        if final is not None:
            self.complete(job, final)
            return
        failure = main_container_failure(pod)
        if failure:
            self.fail(job, failure)
            return
        if not _main_started(pod):
            return
        bars = parse_progress_bars(log_text.splitlines())
        fields: dict[str, Any] = {"state": "Running", "reason": "NoReason",
                                  "message": bars[-1]["message"] if bars else "initializing the evaluation job"}
        if bars and self.release.has_progress_bars:
            fields["progressBars"] = bars
        self.set_status(job, **fields)

    def complete(self, job: JSON, final: JSON) -> None:
        fields: dict[str, Any] = {
            "state": "Complete",
            "reason": final.get("reason", "Succeeded"),
            "message": final.get("message", ""),
            "completeTime": now_rfc3339(),
        }
        if final.get("results"):
            fields["results"] = final["results"]
        if final.get("progressBars") and self.release.has_progress_bars:
            fields["progressBars"] = final["progressBars"]
        self.set_status(job, **fields)
        meta = job["metadata"]
        self.event(job, "Normal", "JobCompleted", f"The LMEvalJob {meta['name']} in namespace {meta['namespace']} "
                   "has completed")

    def handle_cancel(self, job: JSON) -> None:
        meta = job["metadata"]
        self.kube.delete(resource_path("", "v1", "pods", meta["namespace"], meta["name"]))
        self.set_status(job, state="Complete", reason="Cancelled", message="job is cancelled",
                        completeTime=now_rfc3339())
        self.event(job, "Normal", "Cancelled", f"The LMEvalJob {meta['name']} in namespace {meta['namespace']} "
                   "has cancelled and its pod has been deleted")

    def handle_deletion(self, job: JSON) -> None:
        meta = job["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return
        pod_path = resource_path("", "v1", "pods", meta["namespace"], meta["name"])
        pod = self.kube.get_or_none(pod_path)
        if pod is not None and any(o.get("uid") == meta["uid"] for o in pod["metadata"].get("ownerReferences") or []):
            self.kube.delete(pod_path)
        remaining = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        self._patch_job(job, {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}})
        self.event(job, "Normal", "DetachFinalizer", f"Removed finalizer from the LMEvalJob {meta['name']}")

    def event(self, job: JSON, kind: str, reason: str, message: str) -> None:
        meta = job["metadata"]
        stamp = now_rfc3339()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": f"{LMEVAL_GROUP}/{LMEVAL_VERSION}", "kind": "LMEvalJob",
                               "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
            "reason": reason, "message": message, "type": kind, "source": {"component": EVENT_SOURCE},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "reportingComponent": EVENT_SOURCE,
        }
        with contextlib.suppress(ApiError):
            self.kube.create(resource_path("", "v1", "events", meta["namespace"]), event)


def _main_started(pod: JSON) -> bool:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == "main":
            state = status.get("state") or {}
            return "running" in state or "terminated" in state
    return False
