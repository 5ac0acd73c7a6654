"""Scenarios: what state a sandbox is brought to after its profile is installed.

A scenario has three parts, run in this order by `sandbox up` and by `harness.running_sandbox`:
1. `install`: options for the profile's seed objects (before any simulator runs);
2. `setup(kube, profile)`: API writes once the simulators run (as an admin or bootstrap would);
3. `ready(kube, profile)`: the state to wait for before handing the sandbox over.

- fresh: the platform as installed: trustyai Removed.
- bootstrapped: trustyai Managed and LM-Eval permitted the way bootstrap does it on that release
  (DSC eval.lmeval allow on 2.25+; on older lines the annotated operator ConfigMap + rollout restart).
- broken-jobs: bootstrapped, plus namespace private-ai-demo with an InferenceService `granite` and one
  LMEvalJob per seed mistake plus one good job (sandbox.jobs).
- no-kserve: no InferenceService CRD, kserve Removed, trustyai Managed: the KServe precondition fails.
- unannotated-configmap-edit: trustyai Managed, then `lmes-allow-online` edited to "true" without the
  `opendatahub.io/managed: "false"` annotation (reverted at once on 2.17+, kept until the next
  reconcile on 2.16).
- kueue-managed: kueue Managed in the DSC (an upgraded cluster); on 3.x every DSC update is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from lmeval_setup.errors import ClusterError, UsageError, WaitTimeout
from lmeval_setup.kube.client import JSON, ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.operator_state import old_pods, selector_string
from lmeval_setup.platform.releases import Profile
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import profiles as P

Step = Callable[[Kube, Profile], None]
Check = Callable[[Kube, Profile], bool]


def _nothing(kube: Kube, profile: Profile) -> None:
    return None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    _: KW_ONLY
    install: Callable[[Profile], P.InstallOptions] = field(default=lambda profile: P.InstallOptions())
    setup: Step = _nothing
    ready: Check = field(default=lambda kube, profile: platform_seeded(kube, profile))


# -- observations -----------------------------------------------------------------------------------
def dsc(kube: Kube, profile: Profile) -> JSON:
    return kube.get(P.dsc_path(profile.release, P.DSC_NAME))


def dsc_condition(kube: Kube, profile: Profile, type_: str) -> JSON | None:
    conditions = (dsc(kube, profile).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), None)


def platform_seeded(kube: Kube, profile: Profile) -> bool:
    """The platform operator has reconciled the DSC at least once (its conditions are there)."""
    return bool((dsc(kube, profile).get("status") or {}).get("conditions"))


def trustyai_ready(kube: Kube, profile: Profile) -> bool:
    cond = dsc_condition(kube, profile, profile.release.trustyai_condition)
    return bool(cond and cond.get("status") == "True")


def operator_available(kube: Kube, profile: Profile) -> bool:
    namespace = profile.release.default_applications_namespace
    deployment = kube.get_or_none(resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT))
    status = (deployment or {}).get("status") or {}
    return (int(status.get("availableReplicas") or 0) >= 1
            and status.get("observedGeneration") == (deployment or {}).get("metadata", {}).get("generation")
            and int(status.get("updatedReplicas") or 0) >= 1 and int(status.get("replicas") or 0) == 1)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (ApiError, ClusterError, KeyError, TypeError):  # not there yet (404, CRD establishing)
            pass
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")


# -- admin actions (what an admin or bootstrap would do through the API) -------------------------------
def operator_configmap_path(profile: Profile) -> str:
    return resource_path("", "v1", "configmaps", profile.release.default_applications_namespace, R.OPERATOR_CONFIGMAP)


def rollout_restart(kube: Kube, profile: Profile) -> None:
    """`oc rollout restart deployment trustyai-service-operator-controller-manager`."""
    path = resource_path("apps", "v1", "deployments", profile.release.default_applications_namespace,
                         R.OPERATOR_DEPLOYMENT)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f"-{time.monotonic_ns() % 1000000}"
    kube.merge_patch(path, {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": stamp}}}}})


# Restarts with the data patched again before the ConfigMap line's setup gives up: the platform puts it back at
# most once (a reconcile in flight at the annotation), or on 2.16 at each of its reconciles (none in setup).
PERMIT_ATTEMPTS = 3
PERMITTED = {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}


def permit_via_configmap(kube: Kube, profile: Profile) -> None:
    """The ≤2.24 procedure: annotate, patch lmes-allow-*, restart the operator; then make sure the data held.

    The platform operator reads the ConfigMap, then applies its manifest with force: a reconcile that read it
    just before the annotation arrived puts lmes-allow-* back to "false" after our patch (broken-jobs' eval-good
    then ran offline: LME102); every later reconcile skips the annotated ConfigMap. Nothing on 2.17-2.22 tells
    when that reconcile is over (the owner reference goes only from 2.23: Release.deowns_unmanaged_since), so the
    data is read again once the restarted operator has rolled out, long after any reconcile that was in flight,
    and patched and restarted again if it was put back: the restarted manager read the reverted values.
    """
    wait_for(lambda: kube.get_or_none(operator_configmap_path(profile)) is not None,
             "the platform operator to create trustyai-service-operator-config")
    path = operator_configmap_path(profile)
    kube.merge_patch(path, {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}})
    deployment = resource_path("apps", "v1", "deployments", profile.release.default_applications_namespace,
                               R.OPERATOR_DEPLOYMENT)
    for _ in range(PERMIT_ATTEMPTS):
        kube.merge_patch(path, {"data": PERMITTED})
        wait_for(lambda: kube.get_or_none(deployment) is not None, "the TrustyAI operator Deployment")
        rollout_restart(kube, profile)
        wait_for(lambda: operator_available(kube, profile) and operator_rolled_out(kube, profile),
                 "the restarted TrustyAI operator to roll out", timeout=90)
        if _permissions_held(kube, path):
            return
    raise ClusterError(f"the platform operator put {', '.join(PERMITTED)} of {R.OPERATOR_CONFIGMAP} back "
                       f"{PERMIT_ATTEMPTS} times after they were patched", reason="conflict")


def _permissions_held(kube: Kube, path: str) -> bool:
    data = kube.get(path).get("data") or {}
    return all(data.get(key) == value for key, value in PERMITTED.items())


def _bootstrap_install(profile: Profile) -> P.InstallOptions:
    if profile.release.has_dsc_eval_fields:
        return P.InstallOptions(trustyai="Managed", eval_permissions=("allow", "allow"))
    return P.InstallOptions(trustyai="Managed")


def _bootstrap_setup(kube: Kube, profile: Profile) -> None:
    if not profile.release.has_dsc_eval_fields:
        permit_via_configmap(kube, profile)


def _bootstrapped_ready(kube: Kube, profile: Profile) -> bool:
    return trustyai_ready(kube, profile) and operator_available(kube, profile) and operator_rolled_out(kube, profile)


def operator_rolled_out(kube: Kube, profile: Profile) -> bool:
    """No operator pod of an older ReplicaSet is left, terminating or not (bootstrap's restart waits so too).

    `available` alone is not enough after the rollout restart of a ConfigMap line: the old pod, already
    counted out of `replicas` once it is terminating, still runs its manager, which read the old lmes-* values;
    a job created then could be built offline by it (broken-jobs' eval-good failed with LME102 so, now and then).
    """
    namespace = profile.release.default_applications_namespace
    deployment = kube.get_or_none(resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT))
    if deployment is None:
        return False
    selector = selector_string(deployment)
    pods = kube.get(resource_path("", "v1", "pods", namespace), labelSelector=selector).get("items", [])
    replicasets = kube.get(resource_path("apps", "v1", "replicasets", namespace),
                           labelSelector=selector).get("items", [])
    return not old_pods(deployment, pods, replicasets)


def inference_service(namespace: str = J.DEMO_NAMESPACE) -> JSON:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": J.SERVED_MODEL, "namespace": namespace,
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": "vllm-runtime",
                                         "storageUri": MODELCAR}}},
    }


MODELCAR = "oci://quay.io/redhat-ai-services/modelcar-catalog:granite-3.1-8b-instruct"


def serve_model(kube: Kube, namespace: str = J.DEMO_NAMESPACE) -> None:
    """The `granite` InferenceService the seed jobs evaluate, Ready at J.ENDPOINT (where KServe exists): with
    the real lm-eval a job reaches it, through its vLLM stand-in, only if it is there (sandbox/podservices.py)."""
    P.ensure_namespace(kube, namespace)
    if kube.get_or_none(f"{P.CRD_PATH}/{R.KSERVE_ISVC_CRD}") is not None:
        isvcs = resource_path("serving.kserve.io", "v1beta1", "inferenceservices", namespace)
        P.create_if_missing(kube, isvcs, inference_service(namespace))
        # No KServe controller runs here: report the predictor as a real one would once vLLM is up.
        kube.merge_patch(f"{isvcs}/{J.SERVED_MODEL}/status", {"status": {
            "url": J.ENDPOINT, "conditions": [{"type": "Ready", "status": "True"}]}})


def create_seed_jobs(kube: Kube, profile: Profile, namespace: str = J.DEMO_NAMESPACE) -> None:
    serve_model(kube, namespace)
    for body in J.seed_jobs(namespace):
        P.create_if_missing(kube, resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", namespace), body)


def _broken_jobs_setup(kube: Kube, profile: Profile) -> None:
    _bootstrap_setup(kube, profile)
    # Jobs are created once the operator runs with its final configuration, as a user would.
    wait_for(lambda: _bootstrapped_ready(kube, profile), "TrustyAI to be ready", timeout=90)
    create_seed_jobs(kube, profile)


def _unannotated_edit(kube: Kube, profile: Profile) -> None:
    wait_for(lambda: kube.get_or_none(operator_configmap_path(profile)) is not None,
             "the platform operator to create trustyai-service-operator-config")
    kube.merge_patch(operator_configmap_path(profile), {"data": {R.CM_ALLOW_ONLINE: "true"}})


def _precondition_failed(kube: Kube, profile: Profile) -> bool:
    release = profile.release
    if release.kserve_missing_reason is None:  # the legacy path has no precondition: it just deploys
        return platform_seeded(kube, profile)
    cond = dsc_condition(kube, profile, release.trustyai_condition)
    return bool(cond and cond.get("status") == "False" and R.KSERVE_MISSING_MESSAGE in cond.get("message", ""))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("fresh", "OpenShift AI as installed: trustyai Removed"),
        Scenario("bootstrapped", "trustyai Managed and LM-Eval online/code execution permitted",
                 install=_bootstrap_install, setup=_bootstrap_setup, ready=_bootstrapped_ready),
        Scenario("broken-jobs", "bootstrapped + private-ai-demo with the seed's five broken jobs and a good one",
                 install=_bootstrap_install, setup=_broken_jobs_setup, ready=_bootstrapped_ready),
        Scenario("no-kserve", "no InferenceService CRD: TrustyAI's KServe precondition fails",
                 install=lambda profile: P.InstallOptions(kserve=False, trustyai="Managed"),
                 ready=_precondition_failed),
        Scenario("unannotated-configmap-edit", "lmes-allow-online edited without the managed=false annotation",
                 install=lambda profile: P.InstallOptions(trustyai="Managed"), setup=_unannotated_edit,
                 ready=lambda kube, profile: trustyai_ready(kube, profile) or platform_seeded(kube, profile)),
        Scenario("kueue-managed", "kueue Managed in the DSC: on 3.x the admission policy refuses DSC updates",
                 install=lambda profile: P.InstallOptions(kueue="Managed")),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}") from None
