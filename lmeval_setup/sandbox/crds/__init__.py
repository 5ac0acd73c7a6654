"""The project's own minimal CRDs, generated per release from the release table.

`crds_for(release, kserve=True)` returns the CustomResourceDefinition objects a profile installs:
DataScienceCluster, DSCInitialization, the TrustyAI component CRD (2.17+ / ODH 2.22+), LMEvalJob and,
unless a scenario leaves KServe out, the InferenceService CRD.
"""

from __future__ import annotations

from lmeval_setup.platform.releases import Release
from lmeval_setup.sandbox.crds.platform import dsc_crd, dsci_crd, trustyai_component_crd
from lmeval_setup.sandbox.crds.schema import Schema
from lmeval_setup.sandbox.crds.workloads import inferenceservice_crd, lmevaljob_crd

__all__ = ["crds_for", "dsc_crd", "dsci_crd", "inferenceservice_crd", "lmevaljob_crd", "trustyai_component_crd"]


def crds_for(release: Release, *, kserve: bool = True) -> list[Schema]:
    out = [dsci_crd(release), dsc_crd(release)]
    component = trustyai_component_crd(release)
    if component is not None:
        out.append(component)
    out.append(lmevaljob_crd(release))
    if kserve:
        out.append(inferenceservice_crd())
    return out
