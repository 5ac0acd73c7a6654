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


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """A module's statements, with those under a top-level if/try (a name defined either way counts)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        for block in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(stmt, block, None) if isinstance(stmt, (ast.If, ast.Try)) else None
            if inner:
                out += _top_level([s for h in inner for s in (h.body if isinstance(h, ast.ExceptHandler) else [h])])
    return out


def _home_names(module: str, cache: dict[str, set[str] | None]) -> set[str] | None:
    """What `module` defines at its top level, plus its `__all__` (a package's deliberate public API);
    None when `module` is no file of ours."""
    if module not in cache:
        base = PACKAGE.parent.joinpath(*module.split("."))
        path = base / "__init__.py" if (base / "__init__.py").exists() else base.with_suffix(".py")
        if not path.exists():
            cache[module] = None
            return None
        names: set[str] = set()
        for node in _top_level(ast.parse(path.read_text()).body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
                    names |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)}
        cache[module] = names
    return cache[module]


SANITY_OUTPUT = "tests/output/"  # in <collection>/


def test_names_are_imported_from_their_home() -> None:
    """A name is imported from the module that defines it, never through another that imported it (a copy
    of where it lives: platform.detect once re-exported KubeSource, rules.spec Permissions as
    ClusterPermissions). The package, its tests and the collection's modules alike."""
    roots = [PACKAGE, PACKAGE.parent / "tests", PACKAGE.parent / "ansible"]
    cache: dict[str, set[str] | None] = {}
    passed_on = []
    # Not ansible-test's own output inside the collection (gitignored): `make test` runs sanity beside pytest.
    sources = (p for root in roots for p in root.rglob("*.py") if SANITY_OUTPUT not in p.relative_to(root).as_posix())
    for path in sorted(sources):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith(
                    "lmeval_setup")):
                continue
            for alias in node.names:
                home = _home_names(node.module or "", cache)
                submodule = _home_names(f"{node.module}.{alias.name}", cache) is not None
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.module}.{alias.name}"
                if home is not None and not submodule and alias.name not in home:
                    passed_on.append(where)
                elif alias.asname == alias.name:  # `import X as X`: the idiom that marks a re-export
                    passed_on.append(f"{where} (re-exported)")
    assert not passed_on, "names imported from a module that only passes them on:\n" + "\n".join(passed_on)
