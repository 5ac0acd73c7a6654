"""kube/client.py turns transport failures into ClusterError (exit 3) and nothing else: a bug in a caller
must not read as "cannot reach the cluster" (issue 18 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmeval_setup.errors import ClusterError
from lmeval_setup.kube.client import Kube


@pytest.fixture()
def nowhere(tmp_path: Path) -> Kube:
    """A kubeconfig naming a port nothing listens on (connection refused at once)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return Kube.connect(str(path))


def test_a_refused_connection_is_a_cluster_error(nowhere: Kube) -> None:
    with pytest.raises(ClusterError, match=r"cannot reach the cluster at https://127\.0\.0\.1:1: connection refused"):
        nowhere.request("GET", "/version", timeout=2.0)
    with pytest.raises(ClusterError, match="cannot reach the cluster"):
        next(nowhere.watch("/api/v1/namespaces"))


def test_a_callers_bug_is_not_a_cluster_error(nowhere: Kube) -> None:
    with pytest.raises(ValueError, match="Timeout value") as caught:
        nowhere.request("GET", "/version", timeout="soon")  # type: ignore[arg-type]
    assert not isinstance(caught.value, ClusterError)
