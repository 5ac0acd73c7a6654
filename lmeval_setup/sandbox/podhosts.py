"""Cluster-local names for a sandbox job's lm-eval process: what a pod's DNS would answer.

A job names its model endpoint by the InferenceService's cluster-local host
(`granite-predictor.private-ai-demo.svc.cluster.local`), and the Hub as huggingface.co. In the sandbox
those resolve only for the job's own process: tools/build-jobimage.sh installs this file into the job
image venv (with a `.pth` line), and when `LMEVAL_SANDBOX_HOSTS` holds a JSON object {host: address},
`socket.getaddrinfo` answers those hosts with that address, for requests (sync) and aiohttp (async)
alike, and every other name (IP literals and localhost aside) fails as on a disconnected cluster,
with getaddrinfo's own "Name or service not known" (EAI_NONAME): a typo'd service looks as it does in a
pod, and no DNS query leaves the machine. Nothing outside the process changes (no /etc/hosts edit).

Stdlib only: it runs in the job image venv, where the project is not installed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from typing import Any

ENV = "LMEVAL_SANDBOX_HOSTS"


def install() -> None:
    raw = os.environ.get(ENV)
    if not raw:
        return
    try:
        table = {str(k).lower(): str(v) for k, v in dict(json.loads(raw)).items()}
    except (ValueError, TypeError):
        return
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if not isinstance(name, str) or _literal(name):
            return original(host, *args, **kwargs)
        key = name.lower().rstrip(".")
        if key in table:
            return original(table[key], *args, **kwargs)
        # Like a disconnected cluster's DNS: any other name does not exist (and no query leaves the machine).
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    socket.getaddrinfo = getaddrinfo


def _literal(name: str) -> bool:
    """IP addresses and localhost resolve as usual."""
    if name.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
