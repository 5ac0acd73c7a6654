"""Where the LMEvalJob API lives on a cluster: one place for the path and the "is it served" check,
used by provision (which creates jobs) and results (which reads them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmeval_setup.errors import PrerequisiteError
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION

if TYPE_CHECKING:
    from lmeval_setup.kube.client import Kube


def lmevaljob_path(namespace: str, name: str | None = None) -> str:
    # Imported here: scaffold and lint reach this module through provision.objects, and the base install
    # (click + PyYAML) must not load the kube client's transport.
    from lmeval_setup.kube.client import resource_path

    return resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace, name)


def require_lmevaljob_api(kube: Kube) -> None:
    if kube.get_or_none(f"/apis/{LMEVAL_GROUP}/{LMEVAL_VERSION}") is None:
        raise PrerequisiteError(
            "this cluster does not serve LMEvalJobs (trustyai.opendatahub.io/v1alpha1)",
            hint="enable TrustyAI first: lmeval-setup bootstrap",
        )
