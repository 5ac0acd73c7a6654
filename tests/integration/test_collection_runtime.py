"""The lmeval.setup collection's action group (meta/runtime.yml): `module_defaults` for
group/lmeval.setup.k8s gives every module of the collection, and kubernetes.core's k8s group that it
extends, its connection, stated once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.controlplane


def test_module_defaults_group_reaches_every_module(controlplane: Any, tmp_path: Path) -> None:
    kubeconfig = str(controlplane.kubeconfig)
    # A bare control plane has no OpenShift AI: a module that got the kubeconfig from the group's defaults
    # reaches it and says no_openshift_ai; one that did not finds no kubeconfig at all (HOME is empty and
    # KUBECONFIG unset) and says unreachable.
    playbook = [{
        "name": "module_defaults through the action group", "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/lmeval.setup.k8s": {"kubeconfig": kubeconfig}},
        "tasks": [{"name": "facts with no connection argument", "lmeval.setup.lmeval_facts": {},
                   "register": "facts", "ignore_errors": True},
                  {"name": "kubernetes.core with no connection argument",
                   "kubernetes.core.k8s_info": {"kind": "Namespace", "name": "kube-system"}, "register": "ns"},
                  {"name": "show", "ansible.builtin.debug": {"msg": "REASON={{ facts.reason }}"}}],
    }]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG")}
    env.update({"PATH": f"{VENV_BIN}:{env.get('PATH', '')}", "HOME": str(tmp_path), "ANSIBLE_CONFIG":
                str(REPO / "ansible.cfg"), "ANSIBLE_HOME": str(tmp_path / ".ansible"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                "TMPDIR": str(tmp_path)})
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    assert tasks[1]["hosts"]["localhost"]["resources"][0]["metadata"]["name"] == "kube-system"
    assert tasks[2]["hosts"]["localhost"]["msg"] == "REASON=no_openshift_ai", tasks[0]["hosts"]["localhost"]
    # kubernetes.core's discovery cache follows TMPDIR: in /tmp a later plane on this port would read this one's.
    assert list(tmp_path.glob("k8srcp-*.json")), "the discovery cache was written outside the test's directory"
