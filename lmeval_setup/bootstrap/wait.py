"""Waits, per platform-versions.md §5.2: what each release reports when TrustyAI is ready.

Never block on the overall DSC `Ready`: other components (trainer without JobSet, kueue) keep it False
on healthy LM-Eval clusters. Fail fast, with the fix, when TrustyAI says the KServe CRD is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lmeval_setup.errors import PrerequisiteError, WaitTimeout
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.operator_state import deployment_readiness, selector_string
from lmeval_setup.platform.releases import Release

JSON = dict[str, Any]


class KServeMissing(PrerequisiteError):
    """TrustyAI reports the InferenceService CRD missing (LME108)."""

    reason = "kserve_missing"
    rule = "LME108"


def condition(obj: JSON, kind: str) -> JSON | None:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), None)


def trustyai_state(dsc: JSON, release: Release, deployment: JSON | None) -> tuple[bool, str]:
    """(ready, what we are still waiting for) for one read of the DSC and the operator Deployment."""
    generation = int(dsc["metadata"].get("generation") or 0)
    ready_condition = condition(dsc, release.trustyai_condition) or {}
    if R.KSERVE_MISSING_MESSAGE in str(ready_condition.get("message", "")):
        raise KServeMissing(
            f"TrustyAI is not ready: {ready_condition.get('message')} (reason {ready_condition.get('reason')})",
            hint="set spec.components.kserve.managementState: Managed on the DataScienceCluster or install KServe",
        )
    if release.ready_condition_kind == "component":
        observed = _observed_generation(dsc)
        if observed is not None and observed < generation:
            return False, f"the platform operator has not reconciled generation {generation} yet (at {observed})"
        status_state = dsc.get("status", {}).get("components", {}).get("trustyai", {}).get("managementState")
        if status_state is not None and status_state != "Managed":
            return False, f"status.components.trustyai.managementState is {status_state}"
    if ready_condition.get("status") != "True":
        detail = ready_condition.get("reason") or "absent"
        return False, f"condition {release.trustyai_condition} is {ready_condition.get('status', 'absent')} ({detail})"
    if not deployment_readiness(deployment).available:
        return False, f"deployment {R.OPERATOR_DEPLOYMENT} is not available yet"
    return True, f"{release.trustyai_condition}=True and {R.OPERATOR_DEPLOYMENT} available"


def _observed_generation(dsc: JSON) -> int | None:
    """ProvisioningSucceeded's observedGeneration (2.19+); status.observedGeneration only moves when the
    whole DSC is happy, so it is not used."""
    provisioned = condition(dsc, "ProvisioningSucceeded")
    if provisioned and provisioned.get("observedGeneration") is not None:
        return int(provisioned["observedGeneration"])
    return None


def poll(check: Callable[[], tuple[bool, str]], timeout: float, what: str, interval: float = 1.0) -> str:
    deadline = time.monotonic() + timeout
    detail = "not checked"
    while True:
        done, detail = check()
        if done:
            return detail
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what} not reached in {timeout:.0f}s: {detail}")
        time.sleep(interval)


def wait_trustyai_ready(kube: Kube, dsc_path: str, namespace: str, release: Release, timeout: float) -> str:
    deployment_path = resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT)

    def check() -> tuple[bool, str]:
        dsc = kube.get(dsc_path)
        return trustyai_state(dsc, release, kube.get_or_none(deployment_path))

    try:
        return poll(check, timeout, "TrustyAI ready")
    except WaitTimeout as exc:
        raise WaitTimeout(str(exc), hint=operator_unavailable_hint(kube, namespace)) from None


def operator_unavailable_hint(kube: Kube, namespace: str) -> str:
    """Where to look when the operator never becomes available: the doctor rule, and the pods by the
    Deployment's own selector (its pod labels changed in 3.5, so never a hard-coded label)."""
    deployment = kube.get_or_none(resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT))
    if deployment is None:
        look = f"oc get deployments -n {namespace}; oc describe datasciencecluster"
    else:
        selector = selector_string(deployment)
        pods = f"oc get pods -n {namespace} -l {selector}" if selector else f"oc get pods -n {namespace}"
        look = f"{pods}; oc describe deployment {R.OPERATOR_DEPLOYMENT} -n {namespace}"
    return (f"doctor rule LME107 operator-unavailable: run `lmeval-setup doctor` or `{look}` "
            "(image pull errors, pending pods); re-run bootstrap when it is available, or give it longer "
            "with --wait-timeout")


def wait_dsc_config(kube: Kube, namespace: str, online: bool, code_execution: bool, timeout: float) -> str:
    """Until the platform has written the DSC eval fields into trustyai-dsc-config."""
    path = resource_path("", "v1", "configmaps", namespace, R.DSC_CONFIGMAP)
    wanted = {R.DSC_CM_ONLINE: str(online).lower(), R.DSC_CM_CODE: str(code_execution).lower()}

    def check() -> tuple[bool, str]:
        data = (kube.get_or_none(path) or {}).get("data") or {}
        seen = {k: data.get(k) for k in wanted}
        return seen == wanted, f"{R.DSC_CONFIGMAP} has {seen}, want {wanted}"

    return poll(check, timeout, f"{R.DSC_CONFIGMAP} reflecting the DSC")
