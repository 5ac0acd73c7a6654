"""The real TrustyAI operator in the sandbox: which containers the kubelet runs as real processes.

With the real operator selected for a profile (`use_real_operator`), the sandbox kubelet runs:

- the operator Deployment's `manager` container (command `/manager`) as the real manager of the
  profile's release line (sandbox/operator_build.py), out of cluster: `--enable-services LMES`,
  metrics and health probes off, no leader election (one replica; a rollout briefly overlaps two
  managers, as a Deployment without leader election would), APPLICATIONS_NAMESPACE and
  OTEL_SDK_DISABLED=true, the sandbox's admin kubeconfig, on the host network (it talks to the
  apiserver on loopback) and in the pod's private mount namespace, where
  /run/secrets/kubernetes.io/serviceaccount/namespace holds the pod's namespace (lines up to 2.22 read
  it only from there). Its lifecycle is the pod's: a restarted Deployment or a deleted pod starts a new
  process that reads the ConfigMap again; scaled to zero or TrustyAI Removed, no pod and no process; a
  manager that exits 1 (ConfigMap missing) is a container in CrashLoopBackOff.
- an LMEvalJob pod's `driver` init container (`/bin/driver --copy /opt/app-root/src/bin/driver`) as
  that line's real driver binary, which copies itself into the pod's /opt/app-root/src/bin;
- its `main` container (`/opt/app-root/src/bin/driver ... -- python -m lm_eval ...`) as that copy, in
  the pod's own mount and network namespaces (the driver listens on 127.0.0.1:18080 per pod), with the
  environment the controller built. The controller reads its status with `pods/exec` (kubelet-stream).
  The `python` it launches is the job image's venv (sandbox/jobimage.py) when built; else, or with
  LMEVAL_SANDBOX_LM_EVAL=none, a python without lm-eval (`No module named lm_eval`, exit 1: an image that
  lacks it), so no job's fate is decided by anything but the real lm-eval.

`LMEVAL_SANDBOX_OPERATOR=real|simulated` chooses (`real` needs the line's build, Linux namespaces and
kubelet-stream, and falls back to the simulator without them); unset, the real operator is the default for
the profiles in REAL_BY_DEFAULT (where it is built) and the simulator for the others.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmeval_setup.platform.releases import OPERATOR_CONTAINER, OPERATOR_DEPLOYMENT, Profile
from lmeval_setup.sandbox import operator_build
from lmeval_setup.sandbox.podruntime import DEFAULT_PATH, PodRuntime, ProcessSpec, stream_binary
from lmeval_setup.sandbox.podservices import with_services

log = logging.getLogger("lmeval_setup.sandbox.realoperator")
ENV_SWITCH = "LMEVAL_SANDBOX_OPERATOR"
# `none` (or the older names `templates`, `standin`): job pods' python has no lm-eval even where the job image
# venv is built, for tests that read the pods the operator builds and never what lm-eval makes of them.
LM_EVAL_SWITCH = "LMEVAL_SANDBOX_LM_EVAL"
NO_LM_EVAL = frozenset({"none", "templates", "standin"})
# The profiles whose real operator line has passed, here, the bootstrap matrix, the bootstrap reliability
# suite, the platform tests, the doctor's scenario tests and the provision suite: the real operator is their
# default. The others keep the simulator by default until theirs has (LMEVAL_SANDBOX_OPERATOR=real opts them
# in). Runs of 2026-12-06 with LMEVAL_SANDBOX_OPERATOR=real, one line at a time: rhoai-2.25 (test_bootstrap,
# test_doctor_scenarios, test_bootstrap_reliability -k 2.25, test_provision_sandbox), rhoai-3.0, rhoai-3.3
# and odh-2.35 (the same -k each, test_bootstrap least_privilege on 3.0) all pass; so does rhoai-2.16 (its
# lifecycle, broken-jobs, the legacy platform revert, new_jobs_see once the release table says its driver
# has no --allow-online, the fleet, test_doctor_fix's offline job). rhoai-2.22 passes the same suites and
# test_cli_outputs; its --replace step (test_doctor_scenarios) timed out (400 s) under load until doctor
# --fix --replace waited for the old job's pod and one pod-checking interval (the real controller loses the
# new job's status poll otherwise: fix/remediate.py), and passed then (249 s, load 27), so it is the
# default too: every profile is. The simulator is the fallback where the real manager cannot run.
REAL_BY_DEFAULT = frozenset({"rhoai-2.16", "rhoai-2.22", "rhoai-2.25", "rhoai-3.0", "rhoai-3.3", "rhoai-3.5",
                             "odh-2.35", "odh-3.5"})
MANAGER_COMMAND = ["/manager"]
DRIVER_IMAGE_BINARY = "/bin/driver"
POD_DRIVER = "/opt/app-root/src/bin/driver"
JOB_HOME = "/opt/app-root/src"
S3_DOWNLOADER = "/opt/app-root/src/scripts/s3_downloader.py"  # what the driver runs for offline.storage.s3
# What the job image (Dockerfile.lmes-job) has: its directories and ENV (the pod's env overrides ENV).
JOB_IMAGE_DIRS = tuple(f"{JOB_HOME}/{d}" for d in ("hf_home", "output", "my_tasks", "my_catalogs/cards", ".cache"))
JOB_IMAGE_ENV = {"HF_HOME": f"{JOB_HOME}/hf_home", "UNITXT_CATALOGS": f"{JOB_HOME}/my_catalogs", "HOME": JOB_HOME}
JOB_IMAGE_PATH_TAIL = "/opt/app-root/src/.local/bin/:/opt/app-root/src/bin:/usr/local/bin:/usr/local/sbin"

# What `python -m lm_eval` says in a job pod without the job image venv (python's own words, and why).
NO_LM_EVAL_MESSAGE = ("/opt/app-root/bin/python: No module named lm_eval "
                      "(the sandbox's job image venv is not built: make jobimage; or LMEVAL_SANDBOX_LM_EVAL=none)")

JSON = dict[str, Any]
ProcessResolver = Callable[[JSON, JSON], ProcessSpec | None]


def mode(profile: Profile | str) -> str:
    """'real' or 'simulated' for `profile`: the environment's choice, else the profile's default."""
    value = os.environ.get(ENV_SWITCH, "").strip().lower()
    if value in ("real", "simulated"):
        return value
    name = profile if isinstance(profile, str) else profile.name
    return "real" if name in REAL_BY_DEFAULT else "simulated"


def missing_for_real(profile: Profile) -> str:
    """Why the real operator cannot run for `profile` here ('' when it can)."""
    if operator_build.find(profile.name) is None:
        wanted = " or ".join(operator_build.lines_for_profile(profile.name))
        return f"the TrustyAI operator ({wanted}) is not built; {operator_build.BUILD_HINT}"
    if not PodRuntime.available():
        return "Linux namespaces (unshare/nsenter as root) are not available for pods as processes"
    if stream_binary() is None:
        return "kubelet-stream (pods/exec) is not built; run: make controlplane"
    return ""


def use_real_operator(profile: Profile) -> bool:
    """The one decision the runner (which simulators start) and the kubelet (what pods run) share."""
    if mode(profile) == "simulated":
        return False
    missing = missing_for_real(profile)
    if missing:
        log.warning("the real TrustyAI operator cannot run for %s, simulating it: %s", profile.name, missing)
    return not missing


def process_resolvers(profile: Profile, workdir: Path) -> list[ProcessResolver]:
    """The kubelet's process resolvers for the real operator of `profile` (empty when not selected).

    `workdir` is the control plane's directory: its admin kubeconfig is the manager's identity.
    """
    build = operator_build.find(profile.name) if use_real_operator(profile) else None
    if build is None:
        return []
    kubeconfig = workdir / "kubeconfig"
    job_python_dir = _job_python_dir(workdir)
    return [
        lambda pod, c: manager_process(pod, c, build.manager, kubeconfig),
        lambda pod, c: driver_copy_process(pod, c, build.driver),
        # The job's InferenceServices and the Hub, reachable from the pod's network (issue 12).
        lambda pod, c: with_services(driver_main_process(pod, c, job_python_dir), pod, kubeconfig),
    ]


def _is_operator_pod(pod: JSON) -> bool:
    return str(pod.get("metadata", {}).get("generateName", "")).startswith(f"{OPERATOR_DEPLOYMENT}-")


def _base_env(pod: JSON, container: JSON) -> dict[str, str]:
    """The container's literal env (valueFrom is not used by the operator's or the job's containers)."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": str(pod["metadata"].get("name", "")), "HOME": "/"}
    literal = [e for e in container.get("env") or [] if "valueFrom" not in e]
    env.update({str(e.get("name")): str(e.get("value", "")) for e in literal})
    return env


def manager_process(pod: JSON, container: JSON, manager: Path, kubeconfig: Path) -> ProcessSpec | None:
    if not _is_operator_pod(pod) or container.get("name") != OPERATOR_CONTAINER:
        return None
    if list(container.get("command") or []) != MANAGER_COMMAND:
        return None
    env = _base_env(pod, container)
    env.update({"APPLICATIONS_NAMESPACE": str(pod["metadata"].get("namespace", "")), "OTEL_SDK_DISABLED": "true",
                "KUBECONFIG": str(kubeconfig)})
    argv = (str(manager), "--enable-services", manager_services(container), "--metrics-bind-address", "0",
            "--health-probe-bind-address", "0")
    return ProcessSpec(argv, env, working_dir="/", host_network=True)


# The services of the operator's --enable-services the sandbox can run: LM-Eval, and its Kueue job manager
# when the Deployment asks for it (the odh-kueue overlay's "TAS,LMES,JOB_MGR"; it needs Kueue's CRDs).
SANDBOX_SERVICES = ("LMES", "JOB_MGR")


def manager_services(container: JSON) -> str:
    """--enable-services for the manager: the container's own list, kept to SANDBOX_SERVICES (LMES always)."""
    args = [str(a) for a in container.get("args") or []]
    asked = args[args.index("--enable-services") + 1].split(",") if "--enable-services" in args[:-1] else []
    return ",".join(s for s in SANDBOX_SERVICES if s == "LMES" or s in asked)


def driver_copy_process(pod: JSON, container: JSON, driver: Path) -> ProcessSpec | None:
    command = [str(c) for c in container.get("command") or []]
    if not command or command[0] != DRIVER_IMAGE_BINARY:
        return None
    argv = (str(driver), *command[1:], *(str(a) for a in container.get("args") or []))
    return ProcessSpec(argv, _base_env(pod, container), working_dir="/")


def driver_main_process(pod: JSON, container: JSON, job_python_dir: Path) -> ProcessSpec | None:
    command = [str(c) for c in container.get("command") or []]
    if not command or command[0] != POD_DRIVER:
        return None
    env = {**JOB_IMAGE_ENV, **_base_env(pod, container)}
    if not any(e.get("name") == "HOME" for e in container.get("env") or []):
        env["HOME"] = JOB_HOME
    # The image's PATH, with the sandbox's job python right after the image's own venv.
    env["PATH"] = f"/opt/app-root/bin:{job_python_dir}:{JOB_IMAGE_PATH_TAIL}:{DEFAULT_PATH}"
    argv = (*command, *(str(a) for a in container.get("args") or []))
    return ProcessSpec(argv, env, working_dir=JOB_HOME, directories=JOB_IMAGE_DIRS)


def job_venv_python() -> Path | None:
    """The job image venv's python (issue 12) unless LMEVAL_SANDBOX_LM_EVAL=none; None: no lm-eval in the pod."""
    if os.environ.get(LM_EVAL_SWITCH, "").strip().lower() in NO_LM_EVAL:
        return None
    try:
        from lmeval_setup.sandbox import jobimage
    except ImportError:  # the job image is not part of this checkout
        return None
    image = jobimage.find()
    return image.python if image is not None else None


def _job_python_dir(workdir: Path | None) -> Path:
    return job_python_dir(workdir, job_venv_python())


def job_python_dir(workdir: Path | None, venv_python: Path | None) -> Path:
    """A directory whose `python` is the job image's python for the driver to find on PATH.

    It runs `venv_python` (the job image venv); without one, `python -m lm_eval` fails as in an image without
    lm-eval (the sandbox never makes up what lm-eval would have done).
    Either way the driver's --detect-device probe (`python -c 'import torch; ...'`) is answered as the job
    image's torch answers on a CPU node: the sandbox's job venv has no torch.
    """
    if workdir is not None:
        directory = workdir / "job-python"
        directory.mkdir(parents=True, exist_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="lmeval-job-python-"))
    target = str(venv_python or sys.executable)
    lines = [
        "#!/bin/sh",
        "# The job image's python in sandbox pods (lmeval_setup/sandbox/realoperator.py).",
        'case "$2" in *torch.cuda.is_available*) [ "$1" = "-c" ] && { echo "==False:0=="; exit 0; };; esac',
    ]
    if venv_python is None:
        lines.append("# No job image venv (make jobimage) or LMEVAL_SANDBOX_LM_EVAL=none: this python has no lm-eval.")
        lines.append('if [ "$1" = "-m" ] && [ "$2" = "lm_eval" ]; then '
                     f'echo "{NO_LM_EVAL_MESSAGE}" >&2; exit 1; fi')
    # The job image ships scripts/s3_downloader.py (offline.storage.s3); the job venv has neither it nor boto3.
    lines.append(f'if [ "$1" = "{S3_DOWNLOADER}" ]; then shift; '
                 f'exec "{sys.executable}" -m lmeval_setup.sandbox.s3_downloader_standin "$@"; fi')
    lines.append(f'exec "{target}" "$@"')
    shim = directory / "python"
    shim.write_text("\n".join(lines) + "\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory
