"""Differential test: lint's kustomize builder against `kubectl kustomize` on generated kustomizations.

Hypothesis generates CASES kustomizations of LMEvalJobs (bases, a middle overlay, components; namePrefix/
nameSuffix, namespace, commonLabels/labels, commonAnnotations, images; patches as strategic merge and JSON
6902 with target selectors, inline and in files; the legacy patchesStrategicMerge/patchesJson6902 that
kubectl's kustomize still accepts). For every case the objects our builder yields must equal kubectl's, or
both must refuse the case. Features outside the supported list are not generated: lint refuses them by name
(test_every_unsupported_feature_is_named).

Speed: every object name carries its case's token (`case0042z`), so the cases that build are built by one
kubectl run per batch (a kustomization listing every case's top directory); kubectl's objects are sorted
back to their cases by that token. Only cases our builder refuses run kubectl one by one (a few percent),
in a small thread pool. 2,000 cases: 56 s of CPU (two thirds kubectl's), an estimated 30 s wall on the idle 2-core
dev machine (3.6 min measured under a load average of 18; 127 s in a fresh-clone `make test`, its third longest
test). So `make test` builds 500 cases and the soak tier (`make soak`, LMEVAL_SOAK=1; CI runs both) 3,000, as
the lint fuzz does (issue 15 item 5); LMEVAL_KUSTOMIZE_CASES overrides both.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from testsupport import require_controlplane_binaries

from lmeval_setup.lint.kustomize import UNSUPPORTED_FIELDS, build
from lmeval_setup.lint.loader import load_documents

CASES = int(os.environ.get("LMEVAL_KUSTOMIZE_CASES") or (3000 if os.environ.get("LMEVAL_SOAK") else 500))
BATCH = 250
TOKEN = "TOKEN"
API = "trustyai.opendatahub.io/v1alpha1"
WORDS = ("chat", "eval", "granite", "mmlu")
MODELS = ("hf", "local-completions", "local-chat-completions", "openai-completions")
TASKS = ("arc_easy", "hellaswag", "mmlu", "gsm8k")
NAMESPACES = ("ns-a", "ns-b", "default")
LABELS = {"env": ("dev", "prod"), "tier": ("gpu", "cpu")}
PREFIXES = ("", "", "dev-", "local-")
SUFFIXES = ("", "", "-v2", "-x")
Files = dict[str, str]


# -- the generator -----------------------------------------------------------------------------------
# Hypothesis draws each case's seed (reproducible with derandomize; distinct across examples); the case is
# drawn from it with plain `random` calls, because a Hypothesis draw costs about half a millisecond and a
# case makes a few hundred choices (and `st.randoms()` favours its bounds, so its "rare" is not rare).
def dump(data: Any) -> str:
    """JSON is YAML, and much faster to write than block YAML (lint's YAML loader is tested elsewhere)."""
    return json.dumps(data)


class Gen:
    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def maybe(self, probability: float = 0.5) -> bool:
        return self.rnd.random() < probability

    def pick(self, choices: Sequence[Any]) -> Any:
        return copy.deepcopy(self.rnd.choice(list(choices)))

    def some(self, choices: Sequence[Any], low: int, high: int) -> list[Any]:
        return self.rnd.sample(list(choices), self.rnd.randint(low, min(high, len(choices))))

    def labels(self) -> dict[str, str]:
        return {key: self.pick(LABELS[key]) for key in self.some(sorted(LABELS), 0, 2)}

    def job(self, name: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if self.maybe():
            meta["labels"] = self.labels()
        if self.maybe(0.25):
            meta["namespace"] = self.pick(NAMESPACES)
        spec: dict[str, Any] = {"model": self.pick(MODELS), "taskList": {"taskNames": self.some(TASKS, 1, 3)}}
        if self.maybe():
            spec["modelArgs"] = [{"name": n, "value": self.pick(("a", "b:1", "/v1"))}
                                 for n in self.some(("model", "base_url", "tokenizer"), 0, 3)]
        if self.maybe():
            spec["batchSize"] = self.pick(("auto", "4"))
        if self.maybe():
            spec["numFewShot"] = self.rnd.randint(0, 5)
        if self.maybe():
            spec["pod"] = {"container": {"env": [{"name": "HF_HOME", "value": "/cache"}]}}
        return {"apiVersion": API, "kind": "LMEvalJob", "metadata": meta, "spec": spec}

    def selector(self) -> str:
        terms = []
        for _ in range(self.rnd.randint(1, 2)):
            key = self.pick(sorted(LABELS))
            form = self.rnd.randint(0, 2)
            if form == 0:
                terms.append(f"{key}{self.pick(('=', '==', '!='))}{self.pick(('dev', 'prod', 'gpu'))}")
            elif form == 1:
                values = ",".join(self.some(("dev", "prod", "gpu"), 1, 2))
                terms.append(f"{key} {self.pick(('in', 'notin'))} ({values})")
            else:
                terms.append(f"{self.pick(('', '!'))}{self.pick([key, 'app'])}")
        return ",".join(terms)

    def target(self, names: list[str], *, need_name: bool = False) -> dict[str, Any]:
        target: dict[str, Any] = {}
        if self.maybe():
            target["kind"] = self.pick(("LMEvalJob", "LMEval.*", "LMEvalJob|Other", "Deployment"))
        if need_name or self.maybe():
            target["name"] = self.pick([*names, f"{TOKEN}-.*", f"{TOKEN}-(chat|eval)", "nothing"])
        if self.maybe(0.2):
            target["namespace"] = self.pick(NAMESPACES)
        if self.maybe(0.35):
            target["labelSelector"] = self.selector()
        if self.maybe(0.15):
            target["annotationSelector"] = self.pick(("note", "note=one", "!note"))
        if self.maybe(0.15):
            target.update(group="trustyai.opendatahub.io", version=self.pick(("v1alpha1", "v1")))
        return target

    def smp_spec(self) -> dict[str, Any]:
        """A strategic-merge patch's spec: maps merge, lists replace, null and `$patch: delete` remove."""
        options: dict[str, Sequence[Any]] = {
            "model": MODELS,
            "taskList": ({"taskNames": ["mmlu"]}, {"taskNames": ["gsm8k", "arc_easy"]}, {"taskNames": ["x"]}) * 6
            + (None, {"$patch": "delete"}),
            "modelArgs": ([{"name": "base_url", "value": "/v1"}], [{"name": "model", "value": "m"}]),
            "batchSize": ("8", None),
            "numFewShot": (3, None),
            "pod": ({"container": {"env": [{"name": "X", "value": "1"}]}},
                    {"$patch": "replace", "container": {"resources": {"limits": {"cpu": "1"}}}},
                    {"$patch": "delete"}, {"container": {"env": None}}),
            "logSamples": (True, False),
        }
        return {key: self.pick(options[key]) for key in self.some(sorted(options), 1, 3)}

    def smp_patch(self, layer: Layer) -> dict[str, Any]:
        """A strategic-merge patch; without a target its id must be one an object has or had (mostly is)."""
        name, namespace = self.pick(sorted({i for history in layer.objects for i in history}))
        if self.maybe(0.01):
            name, namespace = self.pick((f"{TOKEN}-nothing", name)), self.pick(NAMESPACES)
        meta: dict[str, Any] = {"name": name}
        if namespace != "default" or self.maybe():
            meta["namespace"] = namespace
        if self.maybe(0.25):
            meta["labels"] = self.pick(({"env": "prod"}, {"env": None}, {"extra": "1"}))
        return {"apiVersion": API, "kind": "LMEvalJob", "metadata": meta, "spec": self.smp_spec()}

    def json_ops(self) -> list[dict[str, Any]]:
        # Ops that fail on some objects (a failing op fails the whole build) are kept rare.
        return [self.pick(RISKY_OPS if self.maybe(0.02) else JSON_OPS) for _ in range(self.rnd.randint(1, 3))]

    def transforms(self, layer: Layer, component: bool = False) -> None:
        names, k = layer.names, layer.k
        patches: list[dict[str, Any]] = []
        for i in range(self.rnd.randint(0, 3)):
            entry: dict[str, Any] = {}
            if self.maybe():  # JSON 6902 (a target is required: leaving it out is an error both refuse)
                body: Any = self.json_ops()
                if not self.maybe(0.005):
                    entry["target"] = self.target(names)
            else:
                body = self.smp_patch(layer)
                if self.maybe(0.03):
                    body = {k: v for k, v in body.items() if k != "spec"} | {"$patch": "delete"}
                if self.maybe():
                    entry["target"] = self.target(names)
            text = dump(body) if self.maybe() or not isinstance(body, list) else yaml.safe_dump(body)
            if "target" not in entry and isinstance(body, dict) and self.maybe(0.1):
                text += "\n---\n" + dump(self.smp_patch(layer))  # several patches in one file
            if self.maybe():
                entry["path"] = layer.write(f"patch{i}.yaml", text)
            else:
                entry["patch"] = text
            patches.append(entry)
        if patches:
            k["patches"] = patches
        if not component and self.maybe(0.25):
            text = dump(self.smp_patch(layer))
            k["patchesStrategicMerge"] = [layer.write("legacy.yaml", text) if self.maybe() else text]
        if not component and self.maybe(0.25):
            legacy: dict[str, Any] = {"target": {"kind": "LMEvalJob", **self.target(names, need_name=True)}}
            ops = dump(self.json_ops())
            if self.maybe():
                legacy["path"] = layer.write("legacy-ops.yaml", ops)
            else:
                legacy["patch"] = ops
            k["patchesJson6902"] = [legacy]
        if self.maybe(0.3):
            namespace = k["namespace"] = self.pick(NAMESPACES)
            layer.renamed(lambda name, _: (name, namespace))
        prefix, suffix = self.pick(PREFIXES), self.pick(SUFFIXES)
        if prefix:
            k["namePrefix"] = prefix
            layer.renamed(lambda name, namespace: (f"{prefix}{name}", namespace))
        if suffix:
            k["nameSuffix"] = suffix
            layer.renamed(lambda name, namespace: (f"{name}{suffix}", namespace))
        if self.maybe(0.25):
            k["commonLabels"] = self.pick(({"app": "lmeval"}, {"env": "prod"}))
        if self.maybe(0.25):
            pairs = {"env": "dev"} if self.maybe(0.1) else {"team": "ai"}  # env may clash with commonLabels: an error
            k["labels"] = [{"pairs": pairs, "includeSelectors": self.maybe(), "includeTemplates": self.maybe()}]
        if self.maybe(0.25):
            k["commonAnnotations"] = {"note": self.pick(("one", "two"))}
        if self.maybe(0.15):
            k["images"] = [{"name": "quay.io/trustyai/ta-lmes-job", "newTag": "v2"}]

    def case(self) -> Files:
        """A top kustomization over one or two bases (maybe through a middle overlay, maybe a component)."""
        words = iter(WORDS)
        bases: list[Layer] = []
        for b in range(self.rnd.randint(1, 2)):
            layer = Layer(f"base{b}")
            for _ in range(self.rnd.randint(1, 2)):
                name = f"{TOKEN}-{next(words)}"
                job = self.job(name)
                layer.objects.append([(name, job["metadata"].get("namespace") or "default")])
                layer.write(f"{name.split('-')[1]}.yaml", dump(job))
            layer.k["resources"] = sorted(n.rsplit("/", 1)[1] for n in layer.files)
            if b == 1 and self.maybe(0.03):  # the same object as in base0: an id clash unless renamed
                layer.write("chat.yaml", dump(self.job(f"{TOKEN}-chat")))
                layer.objects.append([(f"{TOKEN}-chat", "default")])
                layer.k["resources"].append("chat.yaml")
            self.transforms(layer)
            bases.append(layer)
        layers, below = list(bases), bases
        if self.maybe(0.3):
            middle = Layer("middle", [history for b in bases for history in b.objects])
            middle.k["resources"] = [f"../{b.directory}" for b in bases]
            self.transforms(middle)
            layers.append(middle)
            below = [middle]
        top = Layer("top", [history for b in below for history in b.objects])
        top.k["bases" if self.maybe(0.1) else "resources"] = [f"../{b.directory}" for b in below]
        if self.maybe(0.2):
            component = Layer("component", top.objects)  # a component renames the objects of the top
            component.k = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}
            self.transforms(component, component=True)
            top.k["components"] = ["../component"]
            layers.append(component)
        self.transforms(top)
        layers.append(top)
        files: Files = {}
        for layer in layers:
            files.update(layer.files)
            files[f"{layer.directory}/kustomization.yaml"] = dump(layer.k) if self.maybe() else yaml.safe_dump(layer.k)
        return files


JSON_OPS = (
    {"op": "add", "path": "/spec/batchSize", "value": "16"},
    {"op": "replace", "path": "/spec/model", "value": "hf"},
    {"op": "add", "path": "/spec/taskList/taskNames/-", "value": "mmlu"},
    {"op": "add", "path": "/spec/taskList/taskNames/0", "value": "arc_easy"},
    {"op": "move", "from": "/spec/taskList/taskNames/0", "path": "/spec/taskList/taskNames/-"},
    {"op": "copy", "from": "/spec/model", "path": "/spec/limit"},
    {"op": "copy", "from": "/metadata/name", "path": "/spec/experiment"},
    {"op": "test", "path": "/kind", "value": "LMEvalJob"},
    {"op": "add", "path": "/metadata/labels", "value": {"copied": "yes"}},
    {"op": "add", "path": "/spec/modelArgs", "value": [{"name": "model", "value": "m"}]},
    {"op": "replace", "path": "/spec/taskList", "value": {"taskNames": ["gsm8k"]}},
    {"op": "replace", "path": "/spec/limit", "value": "3"},  # v4: replacing a missing map key adds it
    {"op": "add", "path": "/spec/taskList/taskNames/-1", "value": "gsm8k"},  # v4: negative index
    {"op": "test", "path": "/spec/nothing", "value": None},  # v4: a missing key tests as null
    {"op": "add", "path": "/metadata/annotations", "value": {"note": "one"}},
)
RISKY_OPS = (
    {"op": "remove", "path": "/spec/numFewShot"},
    {"op": "test", "path": "/spec/model", "value": "hf"},
    {"op": "move", "from": "/spec/batchSize", "path": "/spec/limit"},
    {"op": "remove", "path": "/spec/taskList/taskNames/1"},
    {"op": "add", "path": "/spec/modelArgs/7", "value": {"name": "x"}},
)


class Layer:
    """One kustomization being generated: its files, and per object every (name, effective namespace) it
    had, as kustomize's previous ids (patches without target must name one of them)."""

    def __init__(self, directory: str, objects: list[list[tuple[str, str]]] | None = None) -> None:
        self.directory = directory
        self.files: Files = {}
        self.k: dict[str, Any] = {}
        self.objects: list[list[tuple[str, str]]] = [] if objects is None else objects

    @property
    def names(self) -> list[str]:
        return sorted({name for history in self.objects for name, _ in history})

    def renamed(self, change: Callable[[str, str], tuple[str, str]]) -> None:
        for history in self.objects:
            history.append(change(*history[-1]))

    def write(self, name: str, text: str) -> str:
        self.files[f"{self.directory}/{name}"] = text
        return name


cases = st.integers(0, 2**64).map(lambda seed: Gen(random.Random(seed)).case())


# -- running both builders ---------------------------------------------------------------------------
def write_case(root: Path, index: int, files: Files) -> Path:
    token = f"case{index:04d}z"
    for name, text in files.items():
        path = root / f"c{index:04d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(TOKEN, token))
    return root / f"c{index:04d}" / "top"


def canonical(objects: list[Any]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


def ours(top: Path) -> list[str] | None:
    built = build(top)
    return None if built.errors else canonical([d.data for d in built.documents])


def kubectl_build(kubectl: Path, directory: Path) -> tuple[bool, str]:
    # GOGC=400: a quarter less CPU for kustomize's garbage-heavy build, for a few hundred MB more memory.
    proc = subprocess.run([str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GOGC": "400"})
    return proc.returncode == 0, proc.stdout if proc.returncode == 0 else proc.stderr


def by_case(text: str) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for doc in load_documents("kubectl", text):  # parsed as lint parses its input
        index = int(re.search(r"case(\d{4})z", doc.data["metadata"]["name"]).group(1))  # type: ignore[union-attr]
        out.setdefault(index, []).append(doc.data)
    return out


def kubectl_batch(kubectl: Path, root: Path, indexes: list[int]) -> dict[int, list[str] | None]:
    """One kubectl run for many cases; when it fails, halve the batch to find the case(s) it refuses."""
    batch = root / f"batch-{indexes[0]}-{len(indexes)}"
    batch.mkdir()
    resources = "".join(f"- ../c{i:04d}/top\n" for i in indexes)
    (batch / "kustomization.yaml").write_text(f"resources:\n{resources}")
    ok, output = kubectl_build(kubectl, batch)
    if ok:
        objects = by_case(output)
        return {i: canonical(objects.get(i, [])) for i in indexes}
    if len(indexes) == 1:
        return {indexes[0]: None}
    half = len(indexes) // 2
    return {**kubectl_batch(kubectl, root, indexes[:half]), **kubectl_batch(kubectl, root, indexes[half:])}


def generated(count: int) -> list[Files]:
    collected: list[Files] = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases)
    def collect(files: Files) -> None:
        collected.append(files)

    collect()
    return collected


@pytest.mark.soak
def test_builder_agrees_with_kubectl_kustomize(tmp_path: Path) -> None:
    kubectl = require_controlplane_binaries() / "kubectl"
    corpus = generated(CASES)
    assert len(corpus) == CASES, "the generator drew fewer distinct cases than asked"
    tops = [write_case(tmp_path, i, files) for i, files in enumerate(corpus)]
    mine = [ours(top) for top in tops]
    built = [i for i, m in enumerate(mine) if m is not None]
    refused = [i for i, m in enumerate(mine) if m is None]
    theirs: dict[int, list[str] | None] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        batches = [built[i:i + BATCH] for i in range(0, len(built), BATCH)]
        for result in pool.map(lambda b: kubectl_batch(kubectl, tmp_path, b), batches):
            theirs.update(result)
        for i, (ok, output) in zip(refused, pool.map(lambda i: kubectl_build(kubectl, tops[i]), refused), strict=True):
            theirs[i] = canonical([o for objects in by_case(output).values() for o in objects]) if ok else None
    divergent = [i for i in range(len(corpus)) if mine[i] != theirs[i]]
    assert len(refused) < len(corpus) // 4, f"{len(refused)} of {len(corpus)} cases refused: the generator drifted"
    assert not divergent, f"{len(divergent)} of {len(corpus)} cases diverge; first: " + describe(
        tmp_path, divergent[0], corpus[divergent[0]], mine[divergent[0]], theirs[divergent[0]])


def describe(root: Path, index: int, files: Files, mine: list[str] | None, theirs: list[str] | None) -> str:
    texts = "\n".join(f"--- {name}\n{text}" for name, text in sorted(files.items()))
    errors = [str(e) for e in build(root / f"c{index:04d}" / "top").errors]
    return f"case {index}\n{texts}\nours: {mine or errors}\nkubectl: {theirs}"


@pytest.mark.parametrize("feature", sorted(UNSUPPORTED_FIELDS))
def test_every_unsupported_feature_is_named(tmp_path: Path, feature: str) -> None:
    """What the builder does not build, lint refuses by name (rc 2), never building something else."""
    (tmp_path / "job.yaml").write_text(dump({"apiVersion": API, "kind": "LMEvalJob", "metadata": {"name": "j"}}))
    (tmp_path / "kustomization.yaml").write_text(dump({"resources": ["job.yaml"], feature: []}))
    built = build(tmp_path)
    assert built.documents == []
    assert [f"unsupported kustomize feature {feature}" in str(e) for e in built.errors] == [True]
