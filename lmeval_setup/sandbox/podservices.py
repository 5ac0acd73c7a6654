"""What a job pod reaches on a cluster, inside the sandbox pod: its InferenceServices and the Hub.

A sandbox job pod runs in its own network namespace, which has only loopback. To let the real driver and
the real lm-eval talk to "the cluster", the `main` container's process is this wrapper: it starts, in
the pod's network namespace,
- one vLLM stand-in (modelserver.py) per InferenceService of the cluster (any namespace: cluster DNS
  resolves other namespaces' Services too), each on a loopback address of its own at the port of the
  InferenceService's URL, serving the InferenceService's name (KServe's vLLM runtime passes
  `--served-model-name={{.Name}}`); annotations choose faults (`sandbox.lmeval-setup.io/fault`: 429, 500,
  slow, reset, no-logprobs), `.../max-model-len` and `.../api-key` (the bearer token vLLM requires). It
  answers to the names a pod's resolver would: `svc.ns.svc.cluster.local`, `svc.ns.svc` and `svc.ns`
  everywhere, the bare `svc` only in its own namespace (the pod's DNS search path);
- the Hub stand-in (hubserver.py) on 127.0.0.1:80 (an ephemeral port if 80 is taken),
and then runs the container's real command (the TrustyAI driver, which runs `python -m lm_eval`) with
`HF_ENDPOINT=http://huggingface.co[:port]` and `LMEVAL_SANDBOX_HOSTS` naming the predictors'
cluster-local hosts and huggingface.co, resolved to loopback for the job's processes only (podhosts.py,
installed in the job image venv). Its output is the container's log; its exit code the container's.

Fidelity limits: plain HTTP only (an `https://` InferenceService URL gets no TLS stand-in here; the live
failure matrix covers TLS), no DNS for other names (a typo'd host fails with the resolver's real
error), and the Hub is reached over HTTP on huggingface.co.

    python -m lmeval_setup.sandbox.podservices PLAN_JSON -- COMMAND...
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import KW_ONLY, asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ANNOTATION_PREFIX = "sandbox.lmeval-setup.io/"
HUB_HOST = "huggingface.co"
HOSTS_ENV = "LMEVAL_SANDBOX_HOSTS"


CLUSTER_DOMAIN = "svc.cluster.local"


@dataclass(frozen=True)
class ModelService:
    host: str  # the InferenceService's status URL host
    port: int
    _: KW_ONLY
    served_model_name: str
    fault: str | None = None
    max_model_len: int = 4096
    api_key: str | None = None
    address: str = "127.0.0.1"  # where it listens in the pod: one loopback address per service, no port clash
    aliases: tuple[str, ...] = ()  # other names the pod's resolver answers with `address`

    @property
    def names(self) -> tuple[str, ...]:
        return (self.host, *self.aliases)


def resolvable_names(host: str, pod_namespace: str | None) -> tuple[str, ...]:
    """The other names under which a pod in `pod_namespace` reaches Service host `svc.ns.svc.cluster.local`:
    `svc.ns.svc` and `svc.ns` through the search path's cluster.local and svc.cluster.local, and the bare
    `svc` only from its own namespace."""
    suffix = "." + CLUSTER_DOMAIN
    if not host.endswith(suffix) or host[: -len(suffix)].count(".") != 1:
        return ()
    service, namespace = host[: -len(suffix)].split(".")
    names = [f"{service}.{namespace}.svc", f"{service}.{namespace}"]
    if namespace == pod_namespace:
        names.append(service)
    return tuple(names)


def _loopback_address(index: int) -> str:
    """127.0.1.1, 127.0.1.2, ... (127.0.0.1 stays the pod's own localhost, where the Hub listens)."""
    return f"127.0.{1 + index // 254}.{1 + index % 254}"


def model_services(isvcs: list[dict[str, Any]], pod_namespace: str | None = None) -> list[ModelService]:
    """One stand-in per InferenceService whose status URL is plain HTTP."""
    services: list[ModelService] = []
    ordered = sorted(isvcs, key=lambda i: (str((i.get("metadata") or {}).get("namespace", "")),
                                           str((i.get("metadata") or {}).get("name", ""))))
    for isvc in ordered:
        meta = isvc.get("metadata") or {}
        url = urlparse(str((isvc.get("status") or {}).get("url") or ""))
        if url.scheme != "http" or not url.hostname:
            continue
        notes = meta.get("annotations") or {}
        max_len = str(notes.get(ANNOTATION_PREFIX + "max-model-len", "4096"))
        services.append(ModelService(
            host=url.hostname, port=url.port or 80, served_model_name=str(meta.get("name", "")),
            fault=notes.get(ANNOTATION_PREFIX + "fault") or None,
            max_model_len=int(max_len) if max_len.isdigit() else 4096,
            api_key=notes.get(ANNOTATION_PREFIX + "api-key") or None,
            address=_loopback_address(len(services)), aliases=resolvable_names(url.hostname, pod_namespace),
        ))
    return services


def plan_json(services: list[ModelService], hub_root: Path) -> str:
    return json.dumps({"models": [asdict(s) for s in services], "hub": str(hub_root)}, sort_keys=True)


def wrap_argv(argv: tuple[str, ...], plan: str) -> tuple[str, ...]:
    """The container's command run by this wrapper (with the project's Python)."""
    return (sys.executable, "-m", "lmeval_setup.sandbox.podservices", plan, "--", *argv)


def _start(plan: dict[str, Any]) -> tuple[list[Any], dict[str, str]]:
    """Start the stand-ins on loopback; the env additions that make the job reach them."""
    from lmeval_setup.sandbox.hubserver import HubServer
    from lmeval_setup.sandbox.modelserver import ModelServer, ModelServerConfig

    servers: list[Any] = []
    hosts: dict[str, str] = {}
    for entry in plan.get("models") or []:
        service = ModelService(**{**entry, "aliases": tuple(entry.get("aliases") or ())})
        config = ModelServerConfig(served_model_name=service.served_model_name, fault=service.fault,
                                   max_model_len=service.max_model_len, api_key=service.api_key)
        with contextlib.suppress(OSError):  # two services on one address and port: the first one wins
            servers.append(ModelServer(config, host=service.address, port=service.port))
        hosts.update(dict.fromkeys(service.names, service.address))
    env: dict[str, str] = {}
    if plan.get("hub"):
        try:
            hub = HubServer(Path(plan["hub"]), port=80)
        except OSError:  # not allowed to bind 80 here: any port
            hub = HubServer(Path(plan["hub"]))
        servers.append(hub)
        env["HF_ENDPOINT"] = f"http://{HUB_HOST}" + ("" if hub.port == 80 else f":{hub.port}")
        hosts.update({HUB_HOST: "127.0.0.1", f"datasets-server.{HUB_HOST}": "127.0.0.1"})
    env[HOSTS_ENV] = json.dumps(hosts, sort_keys=True)
    return servers, env


def die_with(parent: int) -> Callable[[], None]:
    """A preexec_fn for a child of process `parent` (the caller of Popen: os.getpid()): the child gets
    SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a killed pod process never leaves the driver
    behind waiting for a --shutdown that will not come. The death signal covers only a parent that dies
    after it is set: one killed between fork and prctl (a pod deleted as it starts, a loaded machine) has
    left the child to a reaper, so the child ends itself then."""

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m lmeval_setup.sandbox.podservices PLAN_JSON -- COMMAND...", file=sys.stderr)
        return 2
    servers, additions = _start(json.loads(argv[0]))
    child = subprocess.Popen(argv[2:], env={**os.environ, **additions}, preexec_fn=die_with(os.getpid()))

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = child.wait()
    for server in servers:
        server.stop()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def with_services(spec: Any, pod: dict[str, Any], kubeconfig: Path) -> Any:
    """A `main` container's ProcessSpec wrapped so that its job reaches the stand-ins (see the module
    docstring); unchanged when lm-eval is the stand-in (no job image venv, or LMEVAL_SANDBOX_LM_EVAL)."""
    if spec is None:
        return None
    import dataclasses

    from lmeval_setup.sandbox import jobimage
    from lmeval_setup.sandbox.realoperator import job_venv_python

    image = jobimage.find()
    if image is None or job_venv_python() is None:
        return spec
    namespace = str(pod["metadata"].get("namespace", ""))
    services = model_services(_inference_services(kubeconfig), namespace)
    return dataclasses.replace(spec, argv=wrap_argv(tuple(spec.argv), plan_json(services, image.hub)))


def _inference_services(kubeconfig: Path) -> list[dict[str, Any]]:
    """Every namespace's: a pod reaches other namespaces' Services by their cluster DNS names."""
    from lmeval_setup.errors import ClusterError
    from lmeval_setup.kube.client import ApiError, Kube, resource_path

    try:
        kube = Kube.connect(str(kubeconfig))
        listing = kube.get(resource_path("serving.kserve.io", "v1beta1", "inferenceservices"))
    except (ApiError, ClusterError):  # no KServe CRD, or the apiserver is restarting: no predictors
        return []
    return list(listing.get("items") or [])
