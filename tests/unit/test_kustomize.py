"""lint's kustomize builder: the divergences from kustomize found in review, each pinned by what
`kubectl kustomize` (v5.8) gives for the same input. The broad check is test_kustomize_differential.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lmeval_setup.lint.kustomize import build, selector_matches

REPO = Path(__file__).resolve().parents[2]
JOB = """\
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata:
  name: {name}
  labels: {labels}
spec:
  model: local-completions
  taskList:
    taskNames: [arc_easy, hellaswag]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def objects(directory: Path) -> dict[str, dict]:
    built = build(directory)
    assert not built.errors, [str(e) for e in built.errors]
    return {d.data["metadata"]["name"]: d.data for d in built.documents}


def test_overlay_patch_may_name_a_base_resource_by_its_name_before_the_prefix(tmp_path: Path) -> None:
    """kustomize matches a patch against every name a resource had (its previous ids): the old builder
    only looked at the current `local-chat`, so the patch was silently dropped."""
    write(tmp_path, {
        "base/job.yaml": JOB.format(name="chat", labels="{}"),
        "base/kustomization.yaml": "namePrefix: local-\nresources: [job.yaml]\n",
        "overlay/kustomization.yaml": "resources: [../base]\npatches:\n- path: patch.yaml\n",
        "overlay/patch.yaml": "apiVersion: trustyai.opendatahub.io/v1alpha1\nkind: LMEvalJob\n"
                              "metadata: {name: chat}\nspec: {model: local-chat-completions}\n",
    })
    assert objects(tmp_path / "overlay")["local-chat"]["spec"]["model"] == "local-chat-completions"


@pytest.mark.parametrize(("selector", "patched"), [
    ("env!=prod", {"dev", "bare"}),
    ("env=prod", {"prod"}),
    ("env==dev", {"dev"}),
    ("env in (dev, prod)", {"dev", "prod"}),
    ("env notin (dev)", {"prod", "bare"}),
    ("env", {"dev", "prod"}),
    ("!env", {"bare"}),
    ("env,tier=gpu", {"prod"}),
])
def test_label_selectors_are_kubernetes_selectors(tmp_path: Path, selector: str, patched: set[str]) -> None:
    """The old builder split on '=' only: `env!=prod` selected env=prod, `in`/`notin`/`!key` failed."""
    write(tmp_path, {
        "dev.yaml": JOB.format(name="dev", labels="{env: dev}"),
        "prod.yaml": JOB.format(name="prod", labels="{env: prod, tier: gpu}"),
        "bare.yaml": JOB.format(name="bare", labels="{}"),
        "kustomization.yaml": f"resources: [dev.yaml, prod.yaml, bare.yaml]\npatches:\n"
                              f"- target: {{kind: LMEvalJob, labelSelector: '{selector}'}}\n"
                              f"  patch: '[{{op: add, path: /spec/limit, value: \"5\"}}]'\n",
    })
    built = objects(tmp_path)
    assert {name for name, data in built.items() if "limit" in data["spec"]} == patched


def test_selector_syntax_errors_are_refused() -> None:
    for bad in ("env in ()", "!env=dev", "env>x", "=dev"):
        with pytest.raises(ValueError):
            selector_matches(bad, {"env": "dev"})


def test_json6902_move_copy_and_test(tmp_path: Path) -> None:
    """move/copy were ignored and a failing `test` op only skipped itself; kustomize applies them and a
    failing test fails the build."""
    patch = ("- {op: test, path: /spec/model, value: local-completions}\n"
             "- {op: copy, from: /spec/taskList/taskNames/0, path: /spec/taskList/taskNames/-}\n"
             "- {op: move, from: /spec/model, path: /metadata/annotations}\n")
    write(tmp_path, {
        "job.yaml": JOB.format(name="chat", labels="{}"),
        "ops.yaml": patch,
        "kustomization.yaml": "resources: [job.yaml]\npatches:\n- target: {name: chat}\n  path: ops.yaml\n",
    })
    data = objects(tmp_path)["chat"]
    assert data["spec"]["taskList"]["taskNames"] == ["arc_easy", "hellaswag", "arc_easy"]
    assert "model" not in data["spec"] and data["metadata"]["annotations"] == "local-completions"
    (tmp_path / "ops.yaml").write_text("- {op: test, path: /spec/model, value: hf}\n")
    errors = [str(e) for e in build(tmp_path).errors]
    assert len(errors) == 1 and "ops.yaml:1:" in errors[0] and "test" in errors[0], errors


def test_unsupported_feature_is_named_not_built_differently(tmp_path: Path) -> None:
    write(tmp_path, {
        "job.yaml": JOB.format(name="chat", labels="{}"),
        "kustomization.yaml": "resources: [job.yaml]\nreplacements:\n- source: {kind: ConfigMap}\n",
    })
    built = build(tmp_path)
    assert built.documents == []
    assert [str(e) for e in built.errors] == [
        f"{tmp_path}/kustomization.yaml:2:1: unsupported kustomize feature replacements: lint does not build it "
        "(lint `kubectl kustomize DIR` output instead)"]


@pytest.mark.parametrize("entry", ["/ABS/secret.yaml", "../secret.yaml", "link.yaml"])
def test_files_outside_the_root_are_refused_in_one_line(tmp_path: Path, entry: str) -> None:
    """LoadRestrictionsRootOnly: resources and patch files (absolute, `..`, or a link leading out)."""
    outside = tmp_path / "secret.yaml"
    outside.write_text(JOB.format(name="secret", labels="{}"))
    entry = entry.replace("/ABS", str(tmp_path))
    overlay = tmp_path / "overlay"
    write(overlay, {"kustomization.yaml": f"resources: ['{entry}']\n"})
    (overlay / "link.yaml").symlink_to(outside)
    for kustomization in (f"resources: ['{entry}']\n", f"patches:\n- path: '{entry}'\n"):
        (overlay / "kustomization.yaml").write_text(kustomization)
        proc = subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", "lint", str(overlay)],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and entry in lines[0] and "not in or below the kustomization root" in lines[0], lines
        assert "secret" not in proc.stdout
