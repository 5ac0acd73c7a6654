"""scaffold --spec accepts what `kubectl get lmevaljobs -o yaml` prints (issue 14 item 4): a `kind: List` (or
LMEvalJobList, or one LMEvalJob) is re-created as a component, one job per item; before, it was refused as a
spec with unknown keys (apiVersion, items, kind, metadata)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lmeval_setup.errors import UsageError
from lmeval_setup.scaffold.render import load_spec, render_files, spec_from_mapping

REPO = Path(__file__).resolve().parents[2]
SPEC = {"namespace": "private-ai-demo", "tasks": ["arc_easy", "hellaswag"], "limit": 100,
        "tokenizer": "ibm-granite/granite-3.1-8b-instruct",
        "models": [{"name": "granite-w4a16", "gpus": 1, "baseUrl": "http://w4a16-predictor:8080/v1/completions"},
                   {"name": "granite-fp16", "gpus": 4, "baseUrl": "http://fp16-predictor:8080/v1/completions"}]}


def _served(files: dict[str, str], namespace: str) -> list[dict]:
    """The scaffolded jobs as the cluster returns them (namespace set, server fields, a status)."""
    out = []
    for name, text in sorted(files.items()):
        if name.startswith("lmevaljob-"):
            job = yaml.safe_load(text)
            job["metadata"].update(namespace=namespace, uid="u-" + name, resourceVersion="1", generation=1)
            job["status"] = {"state": "Complete", "reason": "Succeeded"}
            out.append(job)
    return out


def test_a_kubectl_list_of_scaffolded_jobs_scaffolds_the_same_component(tmp_path: Path) -> None:
    original = render_files(spec_from_mapping(SPEC))
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
               "items": _served(original, "private-ai-demo")}
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(listing))
    _assert_same_component(render_files(load_spec(path)), original)
    path.write_text(json.dumps({**listing, "kind": "LMEvalJobList"}))  # -o json, typed list
    _assert_same_component(render_files(load_spec(path)), original)


def _assert_same_component(got: dict[str, str], want: dict[str, str]) -> None:
    """Every file identical, except that kustomization.yaml lists the jobs in the List's (name) order."""
    assert {k: v for k, v in got.items() if k != "kustomization.yaml"} == {
        k: v for k, v in want.items() if k != "kustomization.yaml"}
    got_k, want_k = yaml.safe_load(got["kustomization.yaml"]), yaml.safe_load(want["kustomization.yaml"])
    assert sorted(got_k.pop("resources")) == sorted(want_k.pop("resources")) and got_k == want_k


def test_lists_that_cannot_be_one_component_are_usage_errors(tmp_path: Path) -> None:
    jobs = _served(render_files(spec_from_mapping(SPEC)), "a")
    jobs[1]["metadata"]["namespace"] = "b"
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"kind": "List", "items": jobs}))
    with pytest.raises(UsageError, match="several namespaces"):
        load_spec(path)
    path.write_text(yaml.safe_dump({"kind": "List", "items": []}))
    with pytest.raises(UsageError, match="holds no LMEvalJob"):
        load_spec(path)
