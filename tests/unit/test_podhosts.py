"""podhosts: a job's names resolve for its process only, and nothing else leaves the machine as DNS."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import socket
from lmeval_setup.sandbox import podhosts
podhosts.install()
print(socket.getaddrinfo('granite-predictor.ns.svc.cluster.local', 8080)[0][4][0])
local = socket.getaddrinfo('localhost', 80)[0][4][0] in ('127.0.0.1', '::1')
print(socket.getaddrinfo('127.0.0.1', 80)[0][4][0], local)
try:
    socket.getaddrinfo('granite-predictr.ns.svc.cluster.local', 8080)
except socket.gaierror as exc:
    print(exc.errno == socket.EAI_NONAME, exc.strerror)
"""


def test_table_names_resolve_literals_pass_and_other_names_do_not_exist() -> None:
    env = {"LMEVAL_SANDBOX_HOSTS": json.dumps({"granite-predictor.ns.svc.cluster.local": "127.0.0.1"}),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.splitlines() == ["127.0.0.1", "127.0.0.1 True", "True Name or service not known"], done.stderr


def test_without_the_variable_nothing_changes() -> None:
    script = "import socket\nfrom lmeval_setup.sandbox import podhosts\nf = socket.getaddrinfo\npodhosts.install()\n" \
             "print(socket.getaddrinfo is f)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin"},
                          timeout=60)
    assert done.stdout.strip() == "True", done.stderr
