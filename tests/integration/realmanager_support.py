"""The real TrustyAI manager of a release line, run out of cluster against a throw-away control plane, only to
read the pods it builds for LMEvalJobs (no kubelet runs them).

    with real_managers(tmp) as managers:            # one control plane, the operator namespace and ConfigMap
        pods = managers.pods(build, {"job": spec})  # that line's CRD and manager; job name -> its pod

The operator ConfigMap (rhoai-2.22's lmes-* defaults) permits online access and code execution, so each job's
own allowOnline / allowCodeExecution decide; the manager needs the pod and driver image keys (3.5 exits without
them). One manager at a time: each line installs its own shipped CRD over the previous one. Lines before 3.5
read their namespace only from the service-account file: they run in a private mount namespace (unshare -m)
with a tmpfs over /run that holds it, as tests/integration/test_real_manager_start.py does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from testsupport import require_controlplane_binaries

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox.lifeline import spawn_tied
from lmeval_setup.sandbox.profiles import CRD_PATH, apply, wait_admitted, wait_established

JSON = dict[str, Any]
JOB_NAMESPACE = "real-pods"
OPERATOR_NAMESPACE = "redhat-ods-applications"
SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run
# Any image names: the manager only writes them into the pods (3.5 exits when the keys are missing).
POD_IMAGE, DRIVER_IMAGE = "quay.io/trustyai/ta-lmes-job:latest", "quay.io/trustyai/ta-lmes-driver:latest"
POD_TIMEOUT_S = 120.0
JOBS = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", JOB_NAMESPACE)


def missing_for_line(line: str) -> str:
    """Why `line`'s real manager cannot build pods here ('' when it can)."""
    build = OB.build_for_line(line)
    if build is None:
        return f"the manager of {line} is not built: {OB.BUILD_HINT}"
    if not build.reads_applications_namespace and (shutil.which("unshare") is None or os.geteuid() != 0):
        return f"{line} reads its namespace from {SA_DIR}/namespace: needs root and unshare -m"
    return ""


def job_body(name: str, spec: JSON) -> JSON:
    return {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob", "metadata": {"name": name},
            "spec": spec}


def main_container(pod: JSON) -> JSON:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "main")


class RealManagers:
    def __init__(self, kube: Kube, kubeconfig: Path, logs: Path) -> None:
        self.kube, self.kubeconfig, self.logs = kube, kubeconfig, logs
        for namespace in (OPERATOR_NAMESPACE, JOB_NAMESPACE):
            kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": namespace}})
        data = {**R.release_for("rhoai", (2, 22)).lmes_defaults, R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true",
                "lmes-pod-image": POD_IMAGE, "lmes-driver-image": DRIVER_IMAGE}
        kube.create(resource_path("", "v1", "configmaps", OPERATOR_NAMESPACE),
                    {"metadata": {"name": R.OPERATOR_CONFIGMAP}, "data": data})

    def pods(self, build: OB.OperatorBuild, specs: dict[str, JSON]) -> dict[str, JSON]:
        """Each job's pod as `build`'s manager creates it (job name -> pod). Job names are unique per plane."""
        # every line names the pod after its job
        return self._each(build, specs, "a pod", lambda job: self.kube.get_or_none(
            resource_path("", "v1", "pods", JOB_NAMESPACE, job)))

    def completed(self, build: OB.OperatorBuild, specs: dict[str, JSON]) -> dict[str, JSON]:
        """Each job's status once `build`'s manager has completed it (jobs it fails before any pod)."""
        def complete_status(job: str) -> JSON | None:
            status = (self.kube.get(f"{JOBS}/{job}").get("status") or {})
            return status if status.get("state") == "Complete" else None
        return self._each(build, specs, "a Complete status", complete_status)

    def _each(self, build: OB.OperatorBuild, specs: dict[str, JSON], what: str,
              read: Callable[[str], JSON | None]) -> dict[str, JSON]:
        """Create the jobs under `build`'s manager and wait for `read` to give something for each."""
        bodies = [job_body(name, spec) for name, spec in specs.items()]
        self.install_crd(build, bodies)
        manager = self._start(build)
        try:
            for body in bodies:
                self.kube.create(JOBS, body)
            return {name: self._wait(build, manager, name, what, read) for name in specs}
        finally:
            stop(manager)

    def _wait(self, build: OB.OperatorBuild, manager: subprocess.Popen[bytes], job: str, what: str,
              read: Callable[[str], JSON | None]) -> JSON:
        deadline = time.monotonic() + POD_TIMEOUT_S
        while time.monotonic() < deadline and manager.poll() is None:
            found = read(job)
            if found is not None:
                return found
            time.sleep(0.2)
        log = (self.logs / f"{build.line}.log").read_text(errors="replace")
        raise AssertionError(f"{build.line}'s manager gave {job} no {what}\n{log[-3000:]}")

    def install_crd(self, build: OB.OperatorBuild, jobs: list[JSON]) -> None:
        """The line's shipped LMEvalJob CRD, replacing the previous line's, once the apiserver admits `jobs`
        under it (the previous line's enum on spec.model refused upstream v1.38.0's typo'd model type)."""
        crd = yaml.load(build.crd.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        body = {k: v for k, v in crd.items() if k != "status"}
        body["metadata"] = {"name": crd["metadata"]["name"]}
        apply(self.kube, f"{CRD_PATH}/{body['metadata']['name']}", body)
        wait_established(self.kube, [body["metadata"]["name"]], timeout=60)
        wait_admitted(self.kube, JOBS, jobs, timeout=60)

    def _start(self, build: OB.OperatorBuild) -> subprocess.Popen[bytes]:
        manager = [str(build.manager), "--enable-services", "LMES", "--metrics-bind-address", "0",
                   "--health-probe-bind-address", "0"]
        argv = manager
        if not build.reads_applications_namespace:
            # A tmpfs over /run in a private mount namespace holds the namespace file; the host's /run is untouched.
            script = (f'mount -t tmpfs tmpfs /run && mkdir -p {SA_DIR} && printf %s "$NS" > {SA_DIR}/namespace && '
                      'exec "$@"')
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *manager]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(self.kubeconfig),
               "APPLICATIONS_NAMESPACE": OPERATOR_NAMESPACE, "NS": OPERATOR_NAMESPACE, "OTEL_SDK_DISABLED": "true"}
        # Tied to this process: a SIGKILL'd test worker must not leave the manager running (sandbox/lifeline.py).
        with (self.logs / f"{build.line}.log").open("wb") as out:
            return spawn_tied(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@contextmanager
def real_managers(workdir: Path) -> Iterator[RealManagers]:
    """A throw-away control plane under `workdir` (manager logs there too), stopped on exit."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    control = ControlPlane(workdir / "plane", require_controlplane_binaries())
    control.start()
    try:
        yield RealManagers(Kube.connect(str(control.kubeconfig)), control.kubeconfig, workdir)
    finally:
        control.stop(grace=0.0)  # no 3 s SIGTERM grace for a plane nobody keeps
