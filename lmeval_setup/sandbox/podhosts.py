"""Cluster-local names for a sandbox job's lm-eval process: what a pod's DNS would answer.

A job names its model endpoint by the InferenceService's cluster-local host
(`granite-predictor.private-ai-demo.svc.cluster.local`), and the Hub as huggingface.co. In the sandbox
those resolve only for the job's own process: tools/build-jobimage.sh installs this file into the job
image venv (with a `.pth` line), and when `LMEVAL_SANDBOX_HOSTS` holds a JSON object {host: address},
`socket.getaddrinfo` answers those hosts with that address, for requests (sync) and aiohttp (async)
alike. Every other name goes to the real resolver, so a typo'd service fails with the real
"Name or service not known". Nothing outside the process changes (no /etc/hosts edit).

Stdlib only: it runs in the job image venv, where the project is not installed.
"""

from __future__ import annotations

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
        if isinstance(name, str) and name.lower().rstrip(".") in table:
            return original(table[name.lower().rstrip(".")], *args, **kwargs)
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
