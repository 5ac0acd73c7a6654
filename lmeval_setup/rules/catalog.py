"""The rule catalog: one definition per root cause, shared by doctor, lint, provision and the sandbox.

A rule is data. Detectors (spec.py, status.py, pods.py, logs.py, cluster.py) yield evidence that
names a rule ID; they never restate titles or fixes. IDs are stable: never renumber, only add.
LME0xx are job-level causes, LME1xx cluster-level ones.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

DOCS_LMEVAL = (
    "https://docs.redhat.com/en/documentation/red_hat_openshift_ai_self-managed/latest/html/"
    "evaluating_ai_systems/evaluating-large-language-models_evaluate"
)
DOCS_TUTORIAL = "https://trustyai.org/docs/main/lm-eval-tutorial"


FixKind = Literal["job-patch", "bootstrap", "manual"]


@dataclass(frozen=True)
class Fix:
    """How a rule's finding is fixed, as data the fix engine (lmeval_setup.fix) executes.

    - "job-patch": `patch` is a JSON merge patch on the LMEvalJob, except that lists of {name, value}
      entries (modelArgs, genArgs) merge by name, as kubectl's strategic merge does; a string value
      "{key}" is a value to fill in, inferred per job (`fills` names them, lmeval_setup.fix.values says
      from where). `needs_permission` names a cluster permission ("online", "code_execution") without
      which the patch alone does not help: then `bootstrap_flags` are the cluster-level fix, its own plan.
    - "bootstrap": the fix is a bootstrap run with `bootstrap_flags` (enable, permit, restart if needed).
    - "manual": nothing can be inferred safely; `steps` say what to do (the rule's `fix` when empty).
    """

    kind: FixKind = "manual"
    patch: dict[str, Any] = field(default_factory=dict, hash=False)
    _: KW_ONLY
    fills: tuple[str, ...] = ()
    bootstrap_flags: tuple[str, ...] = ()
    needs_permission: str | None = None
    steps: tuple[str, ...] = ()
    only_missing: bool = False  # named entries are added when absent, never overwritten

    @property
    def automatic(self) -> bool:
        return self.kind != "manual"


MANUAL = Fix()
# A chat or openai model type against vLLM: the seed's proven setup is local-completions on /v1/completions.
_TO_LOCAL_COMPLETIONS = Fix(
    "job-patch",
    {"spec": {"model": "local-completions", "modelArgs": [{"name": "base_url", "value": "{base_url}"}]}},
    fills=("base_url",),
)


@dataclass(frozen=True)
class Rule:
    id: str
    slug: str
    _: KW_ONLY
    severity: Severity
    title: str
    why: str
    fix: str
    docs: str = DOCS_LMEVAL
    # An example change (YAML or a command) shown under the fix, where one applies.
    example: str = ""
    # Whether and how the fix is applied automatically (doctor --fix, lint --fix, provision --fix).
    autofix: Fix = MANUAL


_RULES: tuple[Rule, ...] = (
    Rule(
        "LME001", "offline-access", severity="error",
        title="The job needs the Hugging Face Hub but runs offline",
        why="The evaluation pod runs with HF_HUB_OFFLINE/HF_DATASETS_OFFLINE=1 because the job does not set "
        "allowOnline: true or the cluster does not permit online access; a dataset, tokenizer or model "
        "that is not cached cannot be downloaded.",
        fix="Permit online access on the cluster (lmeval-setup bootstrap --allow-online) and set "
        "spec.allowOnline: true on the job, or provide the assets offline (spec.offline.storage) and point "
        "tokenizer/pretrained at local paths under /opt/app-root/src/hf_home.",
        example="spec:\n  allowOnline: true",
        autofix=Fix("job-patch", {"spec": {"allowOnline": True}}, needs_permission="online",
                    bootstrap_flags=("--allow-online",)),
    ),
    Rule(
        "LME002", "base-url-path", severity="error",
        title="base_url does not point at the endpoint the model type calls",
        why="lm-eval posts to base_url exactly as given: local-completions needs .../v1/completions and "
        "local-chat-completions needs .../v1/chat/completions; anything else returns 404 or 400.",
        fix="Set the base_url model argument to the full endpoint path for the model type.",
        docs=DOCS_TUTORIAL,
        example="modelArgs:\n  - name: base_url\n    value: http://my-model-predictor:8080/v1/completions",
        autofix=Fix("job-patch", {"spec": {"modelArgs": [{"name": "base_url", "value": "{base_url}"}]}},
                    fills=("base_url",)),
    ),
    Rule(
        "LME003", "chat-model-loglikelihood", severity="error",
        title="A chat-completions model type cannot run loglikelihood tasks",
        why="Multiple-choice tasks (arc_*, hellaswag, mmlu, winogrande, ...) score answer loglikelihoods, which "
        "chat-completions endpoints do not return: lm-eval raises 'Loglikelihood is not supported for chat "
        "completions'.",
        fix="Use model: local-completions with base_url .../v1/completions and a tokenizer, or choose "
        "generate_until tasks (gsm8k, ifeval, ...) for a chat model.",
        example="model: local-completions",
        autofix=_TO_LOCAL_COMPLETIONS,
    ),
    Rule(
        "LME004", "tokenizer-not-hub-id", severity="error",
        title="The tokenizer is not a loadable Hugging Face repo id or local path",
        why="local-completions tokenizes prompts client-side with transformers.AutoTokenizer; a served-model "
        "name, a missing tokenizer or an empty directory cannot be loaded.",
        fix="Set the tokenizer model argument to the Hugging Face repo id of the served model (e.g. "
        "ibm-granite/granite-3.1-8b-instruct) or to a local directory with the tokenizer files; set "
        "tokenized_requests False only if the server tokenizes.",
        example="modelArgs:\n  - name: tokenizer\n    value: ibm-granite/granite-3.1-8b-instruct",
        autofix=Fix("job-patch", {"spec": {"modelArgs": [{"name": "tokenizer", "value": "{tokenizer}"}]}},
                    fills=("tokenizer",)),
    ),
    Rule(
        "LME005", "openai-completions-unsupported", severity="error",
        title="openai-completions is for the OpenAI API, not a local vLLM server",
        why="The openai-completions model type refuses prompt loglikelihoods, needs tiktoken and an "
        "OPENAI_API_KEY; against vLLM use local-completions.",
        fix="Use model: local-completions with base_url .../v1/completions and a Hugging Face tokenizer.",
        example="model: local-completions",
        autofix=_TO_LOCAL_COMPLETIONS,
    ),
    Rule(
        "LME006", "tls-verification", severity="error",
        title="TLS verification of the model endpoint failed",
        why="The endpoint's certificate is not signed by a CA the evaluation pod trusts (self-signed or "
        "cluster-internal CA); the async client ignores REQUESTS_CA_BUNDLE.",
        fix="Add odh-trusted-ca-bundle to the job namespace so the operator injects the CA, or set the "
        "verify_certificate model argument to False for a trusted internal endpoint.",
    ),
    Rule(
        "LME007", "endpoint-auth", severity="error",
        title="The model endpoint rejected the credentials",
        why="The server answered 401/403: no API key was sent, or the key is wrong or expired.",
        fix="Reference a valid token through a Secret: pod.container.env OPENAI_API_KEY with "
        "valueFrom.secretKeyRef (never inline).",
        example=(
            "pod:\n  container:\n    env:\n      - name: OPENAI_API_KEY\n        valueFrom:\n"
            "          secretKeyRef: {name: model-token, key: token}"
        ),
    ),
    Rule(
        "LME008", "endpoint-unreachable", severity="error",
        title="The model endpoint could not be reached",
        why="Connection refused, DNS failure or read timeout: wrong host/port, the predictor is not running, "
        "or a NetworkPolicy blocks the job namespace.",
        fix="Check the InferenceService is Ready and base_url uses its in-cluster URL and port; raise the "
        "timeout model argument for slow servers.",
    ),
    Rule(
        "LME009", "served-model-name", severity="error",
        title="The model name is not one the server serves",
        why="vLLM answers 404 'The model ... does not exist' when the model argument differs from "
        "--served-model-name.",
        fix="Set the model argument to the served model name (GET /v1/models lists it).",
    ),
    Rule(
        "LME010", "remote-code-required", severity="error",
        title="The task needs code execution that is not permitted",
        why="The dataset or task runs custom code (trust_remote_code; unsafe-code tasks such as humaneval, mbpp) but "
        "the job does not set allowCodeExecution: true or the cluster does not permit it. Unsafe-code tasks also "
        "need lm-eval's --confirm_run_unsafe_code and HF_ALLOW_CODE_EVAL, which the TrustyAI operator passes "
        "only from RHOAI 2.25 / ODH 2.35 on.",
        fix="Set spec.allowCodeExecution: true and permit code execution on the cluster (lmeval-setup bootstrap "
        "--allow-code-execution): enough for remote-code datasets on every release and for unsafe-code tasks "
        "on RHOAI 2.25+ / ODH 2.35+. Before 2.25 no setting runs an unsafe-code task: drop it, or upgrade.",
        example="spec:\n  allowCodeExecution: true",
        autofix=Fix("job-patch", {"spec": {"allowCodeExecution": True}}, needs_permission="code_execution",
                    bootstrap_flags=("--allow-code-execution",)),
    ),
    Rule(
        "LME011", "hub-repo-gated-or-missing", severity="error",
        title="A Hugging Face repository is gated, private or does not exist",
        why="The Hub answered 401/403/404 for a model, tokenizer or dataset repository.",
        fix="Fix the repository id, or accept the licence and pass HF_TOKEN from a Secret.",
    ),
    Rule(
        "LME012", "context-length", severity="error",
        title="A request exceeds the model's context length",
        why="Prompt plus max tokens exceed the server's max_model_len, or max_length is set above it.",
        fix="Lower max_length / max_gen_toks, reduce num_fewshot, or serve the model with a larger "
        "--max-model-len.",
    ),
    Rule(
        "LME013", "endpoint-overloaded", severity="error",
        title="The model endpoint failed under load",
        why="The server returned 5xx or 429 until lm-eval's retries ran out.",
        fix="Lower num_concurrent, raise max_retries, and check the predictor's logs and resources.",
    ),
    Rule(
        "LME014", "task-not-found", severity="error",
        title="A task name is unknown to lm-eval",
        why="lm-eval does not know the task: a typo, a task from a newer version, or a custom task without "
        "its include path.",
        fix="Fix the name (lm-eval --tasks list) or add it through taskList.customTasks (not on RHOAI 2.16, whose "
        "LMEvalJob has no customTasks: there use a task the job image's lm-eval knows).",
    ),
    Rule(
        "LME015", "invalid-value", severity="error",
        title="A field value is rejected by the CRD or the controller",
        why="The value has the wrong type (an unquoted number or boolean), a disallowed character or "
        "placeholder, or a batch size / limit syntax the controller refuses.",
        fix="Quote scalars in modelArgs/genArgs/batchSize, replace placeholders such as $VAR with real "
        "values, and use batchSize 'auto', 'auto:N' or 'N'.",
    ),
    Rule(
        "LME016", "legacy-template-string", severity="error",
        title="taskRecipes[].template is a string",
        why="Since TrustyAI operator v1.33 template is an object {name, ref}; the documented string form is "
        "rejected by the CRD. RHOAI 2.16's CRD is the exception: there template is a string and the object "
        "form is rejected, so on 2.16 a string template is no finding.",
        fix="Write template as an object (on RHOAI 2.16, as a string).",
        example="template:\n  name: templates.classification.multi_class.relation.default",
        autofix=Fix("job-patch", {"spec": {"taskList": {"taskRecipes": "{task_recipes}"}}},
                    fills=("task_recipes",)),
    ),
    Rule(
        "LME017", "unknown-field", severity="warning",
        title="A field the LMEvalJob CRD does not have",
        why="The API server prunes unknown fields silently (or rejects them with strict validation), so the "
        "setting has no effect.",
        fix="Remove the field or move it to its documented place (e.g. env under pod.container.env).",
    ),
    Rule(
        "LME018", "inline-secret", severity="error",
        title="A credential is written inline in the job",
        why="An API key or token in modelArgs or env values is stored in the CR, visible to everyone who can "
        "read LMEvalJobs, and copied into the pod spec.",
        fix="Move it to a Secret and reference it with valueFrom.secretKeyRef.",
    ),
    Rule(
        "LME019", "image-pull", severity="error",
        title="An evaluation image cannot be pulled",
        why="The driver or job image (lmes-driver-image / lmes-pod-image) does not exist, needs a pull "
        "secret, or the cluster is disconnected without a mirror.",
        fix="Fix the image in the operator ConfigMap or mirror it, then restart the operator.",
    ),
    Rule(
        "LME020", "oom-killed", severity="error",
        title="The evaluation container ran out of memory",
        why="The main container was OOMKilled (or the lm-eval child was killed by signal).",
        fix="Raise pod.container.resources.limits.memory or lower batchSize.",
        example="pod:\n  container:\n    resources:\n      limits: {memory: 8Gi}",
    ),
    Rule(
        "LME021", "unschedulable", severity="error",
        title="The evaluation pod cannot be scheduled",
        why="No node satisfies the pod's requests, selectors or volumes; the operator does not report this, "
        "the job just stays Scheduled.",
        fix="Reduce resource requests or add capacity; check the pod's events.",
    ),
    Rule(
        "LME022", "missing-secret-or-configmap", severity="error",
        title="A referenced Secret or ConfigMap is missing",
        why="The container cannot start (CreateContainerConfigError) because an env or volume source names a "
        "Secret/ConfigMap or key that does not exist.",
        fix="Create the Secret/ConfigMap with the referenced key in the job namespace.",
    ),
    Rule(
        "LME023", "missing-python-package", severity="error",
        title="The job image lacks a Python package the task needs",
        why="Some tasks import optional packages (langdetect for ifeval, ...) that the job image does not "
        "ship; offline they cannot be installed.",
        fix="Use a job image that includes the package, or choose another task.",
    ),
    Rule(
        "LME024", "job-stuck", severity="warning",
        title="The job has not progressed",
        why="The job stays Scheduled/Running without progress: the operator cannot read the driver status, "
        "the init container is failing, the evaluation hangs, or the operator lost the job's status poll (an "
        "upstream race: its log says 'Failed to create pod for the LMEvalJob' ... 'already exists' for the job, "
        "which then waits for the operator's 10-hour resync).",
        fix="Inspect the pod's init container and events, and the operator log for 'unable to retrieve the "
        "status'. For a lost poll, touch the job so the operator checks it again (doctor --fix --wait does so "
        "for the jobs it creates).",
        example="oc annotate lmevaljob <job name> -n <namespace> lmeval-setup.opendatahub.io/repoll=1 --overwrite",
    ),
    Rule(
        "LME025", "pvc-missing", severity="error",
        title="A PersistentVolumeClaim the job uses does not exist",
        why="outputs.pvcName or offline.storage.pvcName must exist before the job is created; the operator "
        "otherwise errors before scheduling.",
        fix="Create the PVC first, or use outputs.pvcManaged.",
    ),
    Rule(
        "LME026", "chat-template-missing", severity="error",
        title="A chat model type without a chat template",
        why="Chat-completions requests need messages; without chatTemplate.enabled lm-eval sends raw prompts "
        "or the tokenizer has no chat template.",
        fix="Set spec.chatTemplate.enabled: true (and a tokenizer with a chat template). RHOAI 2.16's LMEvalJob "
        "has no chatTemplate field (the API server prunes it): there use model: local-completions with "
        "base_url .../v1/completions.",
        example="chatTemplate:\n  enabled: true",
        autofix=Fix("job-patch", {"spec": {"chatTemplate": {"enabled": True}}}),
    ),
    Rule(
        "LME027", "server-without-logprobs", severity="error",
        title="The server does not return prompt logprobs",
        why="Loglikelihood tasks need echo=True with logprobs; the server returned none.",
        fix="Serve the model with vLLM's OpenAI server (which supports prompt logprobs) or use "
        "generate_until tasks.",
    ),
    Rule(
        "LME028", "tls-verification-disabled", severity="info",
        title="TLS verification of the model endpoint is disabled",
        why="verify_certificate False accepts any certificate, including a man-in-the-middle's.",
        fix="Prefer injecting the CA bundle (odh-trusted-ca-bundle) and keeping verification on.",
    ),
    Rule(
        "LME029", "client-tuning-missing", severity="info",
        title="Client settings for remote endpoints are missing",
        why="Without num_concurrent, max_retries and timeout, evaluation against a server is slow (one request "
        "at a time) and fails on the first transient error.",
        fix="Add num_concurrent, max_retries and timeout model arguments.",
        example=(
            "modelArgs:\n  - {name: num_concurrent, value: '4'}\n  - {name: max_retries, value: '3'}\n"
            "  - {name: timeout, value: '300'}"
        ),
        autofix=Fix("job-patch", {"spec": {"modelArgs": [
            {"name": "num_concurrent", "value": "4"}, {"name": "max_retries", "value": "3"},
            {"name": "timeout", "value": "300"}]}}, only_missing=True),
    ),
    Rule(
        "LME030", "input-truncated", severity="info",
        title="Inputs were truncated to the model's max length",
        why="lm-eval truncated prompts that exceeded max_length; scores may be lower than they should be.",
        fix="Set max_length to the served model's context length.",
    ),
    # LME031-LME038: the failure paths of the real controller and driver and of the cluster around the job
    # pod (tools/extract_operator_messages.py lists the messages; rules/operator_messages.py maps them).
    Rule(
        "LME031", "custom-task-git", severity="error",
        title="Custom tasks could not be fetched from git",
        why="The driver clones spec.taskList.custom git source in the job pod before lm-eval starts: the clone, the "
        "branch or commit checkout, or the task path failed ('failed to clone git repository', 'specified "
        "path ... does not exist in the repository'). The pod needs online access to reach the repository.",
        fix="Check the git URL (HTTPS, reachable from the cluster), branch, commit and path in the job's custom "
        "task source; the job needs allowOnline: true and the cluster must permit online access.",
    ),
    Rule(
        "LME032", "offline-storage-s3", severity="error",
        title="Offline assets could not be downloaded from S3",
        why="With spec.offline.storage.s3 the driver runs the job image's scripts/s3_downloader.py before lm-eval "
        "and fails the job ('failed to download assets from S3: exit status 1') when it exits non-zero: TLS "
        "verification is on (verifySSL defaults to true) but no caBundle is given ('SSL verification enabled, "
        "but no certificate path found' in the main log), the CA bundle is missing, or the endpoint cannot be "
        "reached. Rejected credentials or a wrong bucket are only logged ('An error occurred (...) when calling "
        "the ListObjectsV2 operation') and lm-eval then runs without the assets.",
        fix="Give offline.storage.s3 a caBundle (a ConfigMap with the endpoint's CA) or set verifySSL: false; "
        "check the S3 Secret referenced by offline.storage.s3 (access key, secret key, an endpoint the pod can "
        "reach, bucket, region) and the path; for a PVC use offline.storage.pvcName with the assets under the "
        "mount.",
    ),
    Rule(
        "LME033", "oci-upload-failed", severity="error",
        title="Results could not be uploaded to the OCI registry",
        why="With spec.outputs.oci the driver pushes the results after lm-eval finished; the registry was not "
        "set or refused the push (credentials, repository, TLS).",
        fix="Check outputs.oci (registry, repository, tag) and its credentials Secret; the scores are still in "
        "the pod's log and, with outputs.pvcName, on the PVC.",
    ),
    Rule(
        "LME034", "kueue-admission", severity="error",
        title="The job waits for Kueue, or Kueue refuses it",
        why="When the operator's job manager integrates Kueue, a job needs the kueue.x-k8s.io/queue-name label "
        "('job requires kueue.x-k8s.io/queue-name label'); a labelled job stays suspended until its LocalQueue's "
        "ClusterQueue admits it (no LocalQueue, no ClusterQueue, or a quota smaller than the job's requests).",
        fix="Label the job with kueue.x-k8s.io/queue-name: <LocalQueue in its namespace>; check that the "
        "LocalQueue and its ClusterQueue exist and that the ClusterQueue's quota covers the pod's requests.",
        example="metadata:\n  labels:\n    kueue.x-k8s.io/queue-name: default",
    ),
    Rule(
        "LME035", "operator-config-invalid", severity="error",
        title="The TrustyAI operator's configuration cannot be read",
        why="The controller reads trustyai-service-operator-config (and trustyai-dsc-config) for every job; an "
        "invalid value (pull policy, image, a non-boolean lmes-allow-* key) fails the job with 'Failed to "
        "read configuration' before a pod exists.",
        fix="Correct the named key in trustyai-service-operator-config in the applications namespace (2.25+: the "
        "DSC's eval.lmeval fields) and re-create the job.",
    ),
    Rule(
        "LME036", "job-pod-gone", severity="error",
        title="The job's pod was deleted or evicted",
        why="The controller marks a job Failed when its pod disappears (deleted, evicted for node pressure such "
        "as ephemeral-storage while datasets download, or replaced by a pod it does not own).",
        fix="Re-create the job; if the pod was evicted, give it room: an ephemeral-storage request or a PVC "
        "(outputs.pvcManaged) for the Hugging Face cache, or a node with more disk.",
    ),
    Rule(
        "LME037", "driver-failed", severity="error",
        title="The LM-Eval driver failed before or around lm-eval",
        why="The driver binary (copied by the init container, wrapping lm_eval in main, exec-ed by the controller "
        "for --get-status) failed: it could not be copied, found no program to run, could not prepare task "
        "recipes or custom artifacts, or could not detect the devices. The job image and driver image must "
        "match the operator release.",
        fix="Read the init container's and main container's logs; check that the lmes-pod-image and "
        "lmes-driver-image of the operator configuration are the release's, and that the pod can write "
        "/opt/app-root/src.",
    ),
    Rule(
        "LME038", "pod-admission-denied", severity="error",
        title="The job's pod was refused at admission",
        why="The controller's pod create was denied, so the job fails without a pod: a ResourceQuota is "
        "exceeded, a LimitRange's minimum or maximum is violated, or no OpenShift SecurityContextConstraint "
        "(or Pod Security level) admits the pod.",
        fix="Raise or free the namespace's quota, fit the job's resources into the LimitRange, or grant the "
        "job's service account an SCC that admits the pod; the denial message names which.",
    ),
    Rule(
        "LME039", "pod-not-shut-down", severity="warning",
        title="The job completed but its pod still runs",
        why="The controller ends a finished pod by exec-ing `driver --shutdown` in main; when that exec fails "
        "(no pods/exec permission, a driver of another release) the pod keeps its CPU, memory and GPUs.",
        fix="Delete the pod (the results stay in the job's status); check the operator's pods/exec permission "
        "and that its driver image matches the release.",
        example="oc delete pod <job name> -n <namespace>",
    ),
    Rule(
        id="LME040", slug="managed-pvc-unusable", severity="error",
        title="The outputs PVC the operator creates cannot be created or bound",
        why="With spec.outputs.pvcManaged the controller creates <job>-pvc (ReadWriteOnce, no storageClassName, "
            "pvcManaged.size) before the pod. A size that is not a Kubernetes quantity makes the controller's "
            "resource.MustParse panic and a size of zero is refused by the apiserver: either way the job never "
            "gets a status or a pod. The claim names no StorageClass, so without a default StorageClass (or when "
            "provisioning fails) it stays Pending and the pod is never scheduled.",
        fix="Set outputs.pvcManaged.size to a quantity such as 10Gi. For a Pending claim: mark a StorageClass as "
            "the cluster default (annotation storageclass.kubernetes.io/is-default-class: \"true\"), or create a "
            "PVC with the storageClassName you need and use outputs.pvcName instead; then re-create the job.",
        example="spec:\n  outputs:\n    pvcManaged:\n      size: 10Gi",
    ),
    Rule(
        "LME041", "results-missing", severity="error",
        title="The job succeeded but its status holds no results",
        why="When lm-eval exits 0 the driver marks the job Complete/Succeeded first and only then reads lm-eval's "
        "*result*.json from the output path. A status read by the controller in between (it reads again at once "
        "whenever the status changed, so near the end it reads often) stores Succeeded without results, and the "
        "controller then shuts the driver down: the results never reach the job (every release line's driver "
        "and controller). The same status follows when lm-eval wrote no results file.",
        fix="Re-create the job to run the evaluation again. While the pod exists, lm-eval's results table is in "
        "its main container's log; with spec.outputs.pvcName or pvcManaged the results file is on that PVC.",
        example="oc logs <job name> -c main -n <namespace>",
    ),
    Rule(
        "LME101", "trustyai-not-managed", severity="error",
        title="TrustyAI is not enabled in the DataScienceCluster",
        why="spec.components.trustyai.managementState is not Managed, so no operator reconciles LMEvalJobs.",
        fix="Run lmeval-setup bootstrap, or merge-patch the DSC.",
        example=(
            "oc patch dsc <name> --type=merge -p "
            "'{\"spec\":{\"components\":{\"trustyai\":{\"managementState\":\"Managed\"}}}}'"
        ),
        autofix=Fix("bootstrap"),
    ),
    Rule(
        "LME102", "online-not-permitted", severity="error",
        title="Jobs request online access the cluster does not permit",
        why="allowOnline: true is silently ignored when the effective cluster permission is false; the pod "
        "runs offline.",
        fix="lmeval-setup bootstrap --allow-online (2.25+/3.x: DSC eval.lmeval.permitOnline: allow; "
        "2.17-2.24: annotated operator ConfigMap lmes-allow-online: \"true\" and a restart).",
        autofix=Fix("bootstrap", bootstrap_flags=("--allow-online",)),
    ),
    Rule(
        "LME103", "code-execution-not-permitted", severity="error",
        title="Jobs request code execution the cluster does not permit",
        why="allowCodeExecution: true is silently ignored when the effective cluster permission is false.",
        fix="lmeval-setup bootstrap --allow-code-execution.",
        autofix=Fix("bootstrap", bootstrap_flags=("--allow-code-execution",)),
    ),
    Rule(
        "LME104", "configmap-edit-reverted", severity="warning",
        title="The operator ConfigMap was edited without the managed annotation",
        why="Without opendatahub.io/managed: \"false\" the platform operator restores trustyai-service-"
        "operator-config on its next reconcile (on 2.16 regardless of the annotation).",
        fix="Annotate the ConfigMap with opendatahub.io/managed: \"false\" before editing (2.17-2.24), or use "
        "the DSC eval fields (2.25+).",
    ),
    Rule(
        "LME105", "configmap-overridden-by-dsc", severity="warning",
        title="The operator ConfigMap permission is overridden by the DSC",
        why="From 2.25 trustyai-dsc-config, rendered from the DSC's eval.lmeval fields, overrides "
        "lmes-allow-* in trustyai-service-operator-config.",
        fix="Set spec.components.trustyai.eval.lmeval.permitOnline / permitCodeExecution in the DSC instead.",
    ),
    Rule(
        "LME106", "operator-restart-pending", severity="warning",
        title="The TrustyAI operator has not loaded its current configuration",
        why="The operator reads lmes-* keys once at start; the ConfigMap changed after the running pod "
        "started, so new jobs still get the old values.",
        fix="oc rollout restart deployment trustyai-service-operator-controller-manager -n <apps ns> "
        "(lmeval-setup bootstrap does it only when needed).",
        autofix=Fix("bootstrap"),
    ),
    Rule(
        "LME107", "operator-unavailable", severity="error",
        title="The TrustyAI operator is not running",
        why="The operator Deployment has no available replica, so LMEvalJobs are not reconciled.",
        fix="Check the Deployment's pods and events in the applications namespace and the DSC TrustyAIReady "
        "condition.",
    ),
    Rule(
        "LME108", "kserve-missing", severity="error",
        title="KServe's InferenceService CRD is missing",
        why="TrustyAI's precondition fails: 'InferenceServices CRD does not exist, please enable serving "
        "component first'.",
        fix="Set spec.components.kserve.managementState: Managed in the DSC (or install KServe).",
    ),
    Rule(
        "LME109", "kueue-blocks-dsc", severity="error",
        title="Kueue Managed blocks every DSC update on 3.x",
        why="The 3.x admission webhook denies DSC updates while kueue is Managed: 'Managed is no longer "
        "supported as a managementState'.",
        fix="Set spec.components.kueue.managementState to Unmanaged or Removed first.",
    ),
    Rule(
        "LME110", "openshift-ai-missing", severity="error",
        title="OpenShift AI / Open Data Hub is not installed",
        why="The cluster has no DataScienceCluster API or no DataScienceCluster.",
        fix="Install the Red Hat OpenShift AI (or Open Data Hub) operator and create a DataScienceCluster.",
    ),
    Rule(
        "LME111", "cluster-layer-unreadable", severity="info",
        title="The cluster layer could not be read with these credentials",
        why="The identity may not get or list the DataScienceCluster, DSCInitialization or the TrustyAI objects "
        "in the applications namespace (typical for a namespace-scoped user), so the cluster rules "
        "(LME101-LME110) were not checked; the job findings stand on their own.",
        fix="Nothing, for a check of your own jobs. For the whole picture, run the doctor as an identity that can "
        "read the DataScienceCluster and the applications namespace (for example cluster-reader).",
        example="oc auth can-i list datascienceclusters.datasciencecluster.opendatahub.io",
    ),
)

# Fixes whose patch sets a field some lines' LMEvalJob CRD does not have: (the Release flag that says the
# line has it, the fix for the lines without it). A fix the line's apiserver would prune must never be offered.
_FIX_WITHOUT_FIELD: dict[str, tuple[str, Fix]] = {
    # RHOAI 2.16: no spec.chatTemplate, and its controller never passes --apply_chat_template, so a chat model
    # type cannot get chat-formatted requests at all there: the seed's local-completions setup is the fix.
    "LME026": ("lmevaljob_chat_template", _TO_LOCAL_COMPLETIONS),
    # RHOAI 2.16: template is a string there (the object form is a 422); the spec rules do not report a string
    # template on it, and a finding from elsewhere must not be "fixed" into the form the line refuses.
    "LME016": ("lmevaljob_recipe_objects", Fix(steps=(
        "Keep template a string: this release's LMEvalJob CRD (RHOAI 2.16) refuses the object form.",))),
}


def autofix_for(rule: Rule, release: Any = None) -> Fix:
    """The rule's fix on `release` (a platform.releases.Release; None: unknown, the catalog's default)."""
    override = _FIX_WITHOUT_FIELD.get(rule.id)
    if override is not None and release is not None and not getattr(release, override[0]):
        return override[1]
    return rule.autofix


RULES: dict[str, Rule] = {r.id: r for r in _RULES}
RULES_BY_SLUG: dict[str, Rule] = {r.slug: r for r in _RULES}


def rule(rule_id: str) -> Rule:
    """Look a rule up by ID or slug."""
    found = RULES.get(rule_id.upper()) or RULES_BY_SLUG.get(rule_id)
    if found is None:
        raise KeyError(f"unknown rule {rule_id!r}")
    return found
