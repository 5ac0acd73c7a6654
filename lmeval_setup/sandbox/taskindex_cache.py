"""A saved copy of lm-eval's index of its bundled tasks, for the sandbox's job image venv.

lm-eval 0.4.12 parses every bundled task YAML (14,000+ files) on each start to build its task index:
~7 s of CPU, 30-40 s of wall time on a loaded 2-core machine, for every job. The bundled tasks never
change inside a built venv, so tools/build-jobimage.sh installs this file into the venv's site-packages
(with a `.pth` line that imports it) and runs lm-eval's indexer once. From then on, `TaskIndex.build`
returns the saved entries for the bundled task directory and indexes every other root (`--include_path`)
as lm-eval does, merging in lm-eval's order with its override warning. The index itself is lm-eval's own
output (pickled), so task lookup, "Tasks not found" and everything after behave the same.

Stdlib only: it runs in the job image venv, where the project is not installed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGET = "lm_eval.tasks._index"
CACHE_NAME = "lmeval-sandbox-taskindex.pickle"


def _cache_file() -> Path:
    return Path(sys.prefix) / CACHE_NAME


def _patch(module: Any) -> None:
    task_index = module.TaskIndex
    original = task_index.build
    bundled = Path(module.__file__).resolve().parent
    log = logging.getLogger(module.__name__)

    def bundled_entries(root: Path, resolve_includes: bool) -> dict[str, Any]:
        cache = _cache_file()
        if resolve_includes and cache.is_file():
            with cache.open("rb") as fh:
                return dict(pickle.load(fh))
        entries = original([root], resolve_includes=resolve_includes)
        if resolve_includes:
            fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".taskindex.")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(entries, fh)
            os.replace(tmp, cache)
        return entries

    def build(paths: Any, *, resolve_includes: bool = True) -> dict[str, Any]:
        index: dict[str, Any] = {}
        for root in paths:
            is_bundled = Path(root).resolve() == bundled
            part = bundled_entries(Path(root), resolve_includes) if is_bundled else original(
                [root], resolve_includes=resolve_includes)
            for name, entry in part.items():
                if name in index:
                    log.warning("Task '%s' from %s overrides existing task from %s", name, entry.yaml_path,
                                index[name].yaml_path)
                index[name] = entry
        return index

    task_index.build = staticmethod(build)


class _Finder(importlib.abc.MetaPathFinder):
    """Patches lm_eval.tasks._index right after it is imported, and only then (no eager import)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            _patch(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
