"""The real TrustyAI manager of every built line, started out of cluster against a real apiserver: without
trustyai-service-operator-config in its namespace it exits 1 (on a cluster: a crash loop, which the doctor
explains as LME107), with it it reaches "Starting workers".

Binaries come from tools/build-operator.sh (make controlplane); a line not built is skipped with a reason.
Lines before 3.5 read their namespace only from the service-account file: the manager runs in a private mount
namespace (unshare -m) with a tmpfs over /run that holds it, which touches nothing on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from realmanager_support import stop
from testsupport import require_controlplane_binaries

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox.lifeline import spawn_tied
from lmeval_setup.sandbox.profiles import CRD_PATH, apply, wait_established
from lmeval_setup.sandbox.trustyai_operator import DEFAULT_IMAGES

NAMESPACE = "redhat-ods-applications"
SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run
CONFIGMAP_PATH = resource_path("", "v1", "configmaps", NAMESPACE, R.OPERATOR_CONFIGMAP)


class Plane:
    def __init__(self, kube: Kube, kubeconfig: Path) -> None:
        self.kube, self.kubeconfig = kube, kubeconfig


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    """Own control plane: the shipped LMEvalJob CRD (real group) must not meet the sandbox's own."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    binaries = require_controlplane_binaries()
    control = ControlPlane(tmp_path_factory.mktemp("real-manager"), binaries)
    control.start()
    try:
        kube = Kube.connect(str(control.kubeconfig))
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NAMESPACE}})
        yield Plane(kube, control.kubeconfig)
    finally:
        control.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def _build(line: str) -> OB.OperatorBuild:
    build = OB.build_for_line(line)
    if build is None:
        pytest.skip(f"the manager of {line} is not built: {OB.BUILD_HINT}")
    return build


def _install_crd(plane: Plane, build: OB.OperatorBuild) -> None:
    """The line's shipped CRD, once per module: the manager only needs the kind to exist to start."""
    if plane.kube.get_or_none(f"{CRD_PATH}/lmevaljobs.{R.LMEVAL_GROUP}") is not None:
        return
    crd = yaml.load(build.crd.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    body = {k: v for k, v in crd.items() if k != "status"}
    body["metadata"] = {"name": crd["metadata"]["name"]}
    apply(plane.kube, f"{CRD_PATH}/{body['metadata']['name']}", body)
    wait_established(plane.kube, [body["metadata"]["name"]], timeout=60)


def _argv(build: OB.OperatorBuild) -> list[str]:
    manager = [str(build.manager), "--enable-services", "LMES", "--metrics-bind-address", "0",
               "--health-probe-bind-address", "0"]
    if build.reads_applications_namespace:
        return manager
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip(f"{build.line} reads its namespace from {SA_DIR}/namespace: needs root and unshare -m")
    # A tmpfs over /run in a private mount namespace: the host's /run is untouched.
    script = (f'mount -t tmpfs tmpfs /run && mkdir -p {SA_DIR} && printf %s "$NS" > {SA_DIR}/namespace && '
              'exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *manager]


def _start(plane: Plane, build: OB.OperatorBuild, log: Path) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(plane.kubeconfig),
           "APPLICATIONS_NAMESPACE": NAMESPACE, "NS": NAMESPACE, "OTEL_SDK_DISABLED": "true"}
    with log.open("wb") as out:  # tied: a SIGKILL'd test worker must not leave the manager running
        return spawn_tied(_argv(build), env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for_text(process: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return text in log.read_text(errors="replace")
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("line", list(OB.OPERATOR_LINES))
def test_manager_exits_without_its_configmap_and_starts_with_it(plane: Plane, line: str, tmp_path: Path) -> None:
    build = _build(line)
    _install_crd(plane, build)
    if plane.kube.get_or_none(CONFIGMAP_PATH) is not None:
        plane.kube.delete(CONFIGMAP_PATH)

    crashed = _start(plane, build, tmp_path / "without.log")
    try:
        code = crashed.wait(60)
    except subprocess.TimeoutExpired:
        stop(crashed)
        pytest.fail(f"{line}: the manager kept running without {R.OPERATOR_CONFIGMAP}")
    output = (tmp_path / "without.log").read_text(errors="replace")
    assert code == 1, output[-2000:]
    assert "failed to get configmap" in output, output[-2000:]

    # The shipped keys; 3.5 also exits when lmes-pod-image / lmes-driver-image are missing (no RELATED_IMAGE_*).
    pod_image, driver_image = DEFAULT_IMAGES["rhoai"]
    data = {**R.release_for("rhoai", (2, 22)).lmes_defaults, "lmes-pod-image": pod_image,
            "lmes-driver-image": driver_image}
    plane.kube.create(resource_path("", "v1", "configmaps", NAMESPACE),
                      {"metadata": {"name": R.OPERATOR_CONFIGMAP}, "data": data})
    running = _start(plane, build, tmp_path / "with.log")
    try:
        started = _wait_for_text(running, tmp_path / "with.log", "Starting workers", timeout=60)
        assert started, (tmp_path / "with.log").read_text(errors="replace")[-2000:]
        time.sleep(2)  # errors after start (e.g. an image key 3.5 cannot resolve) end the process right away
        assert running.poll() is None, (tmp_path / "with.log").read_text(errors="replace")[-3000:]
    finally:
        stop(running)
