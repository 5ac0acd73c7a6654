"""The package's layers, written once: a module may import its own layer and the layers below it, never
one above (README, "Architecture"). A module belongs to the longest entry that prefixes its name, so a
command-line module kept beside its library (fix.cli) sits in the cli layer. Lazy imports count too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lmeval_setup"
LAYERS: tuple[tuple[str, ...], ...] = (  # lowest first
    ("lmeval_setup", "errors", "safeio", "redact", "platform.permissions"),
    ("kube",),
    ("platform",),
    ("rules",),
    ("report",),
    ("lint",),
    ("doctor",),
    ("results",),
    ("provision", "scaffold"),
    ("fix", "bootstrap"),
    ("provision.run",),
    ("sandbox",),
    ("cli", "fix.cli"),
)


def layer_of(module: str) -> int:
    name = module.removeprefix("lmeval_setup.")
    matches = [(len(entry), i) for i, layer in enumerate(LAYERS) for entry in layer
               if name == entry or name.startswith(entry + ".")]
    return max(matches)[1] if matches else 0  # the root package itself


def imports_of(path: Path) -> list[tuple[int, str]]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]  # a submodule or a name
    return [(line, name) for line, name in found if name.startswith("lmeval_setup")]


def test_no_import_climbs_a_layer() -> None:
    climbs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for line, target in imports_of(path):
            if layer_of(target) > layer_of(module):
                climbs.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not climbs, "imports that climb a layer:\n" + "\n".join(climbs)


def test_every_package_has_a_layer() -> None:
    named = {entry.split(".")[0] for layer in LAYERS for entry in layer}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= named, f"packages without a layer: {sorted(packages - named)}"


def test_lint_does_not_load_the_kube_client() -> None:
    """Lint names the cluster's Permissions (a leaf), not detection: offline lint never loads the client."""
    prefixes = ("lmeval_setup.kube", "lmeval_setup.platform.detect")
    code = f"import sys, lmeval_setup.lint; print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    assert out.strip() == "[]"
