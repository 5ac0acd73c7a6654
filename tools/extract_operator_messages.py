"""List every message the LM-Eval controller and driver can show a user, per release line.

Reads the operator source archives in ../shared/upstream/trustyai-service-operator/*.tar.gz (or
--sources DIR) and, when it is in the Go module cache, the upstream module v1.38.0; unpacks only
controllers/lmes/, cmd/lmes_driver/ and api/lmes/ into a temporary directory and runs
tools/operator_messages (a Go program over go/ast) on each. The mapping of these messages to rules is
lmeval_setup/rules/operator_messages.py; tests/unit/test_operator_messages.py fails on any unmapped one
and tools/gen_rules_doc.py reports the coverage per release line.

    python tools/extract_operator_messages.py [--sources DIR] [-o json|text] [--unmapped]

Exit codes: 0, 1 (--unmapped and some message has no mapping), 2 (no sources), 4 (no Go toolchain).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GO_PROGRAM = REPO / "tools" / "operator_messages" / "main.go"
DEFAULT_SOURCES = REPO.parent / "shared" / "upstream" / "trustyai-service-operator"
MODULE = "github.com/trustyai-explainability/trustyai-service-operator"
UPSTREAM_VERSION = "v1.38.0"
# Only these trees run in the LM-Eval controller or in the driver inside the job pod.
SOURCE_PREFIXES = ("controllers/lmes/", "cmd/lmes_driver/", "api/lmes/")


@dataclass(frozen=True)
class OperatorMessage:
    release: str
    kind: str  # error | status | event | reason | driver-log | driver-print
    file: str
    line: int
    text: str
    reason: str = ""


class ExtractError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def go_binary() -> str:
    found = shutil.which("go")  # as tools/build-operator.sh: Go >= 1.26 on PATH
    if not found:
        raise ExtractError("no Go toolchain (go) on PATH: needed to parse the operator sources", 4)
    return found


def build_extractor(workdir: Path) -> Path:
    """Compile the go/ast program once per run (stdlib only, so no module download)."""
    binary = workdir / "operator_messages"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    done = subprocess.run([go_binary(), "build", "-o", str(binary), str(GO_PROGRAM)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise ExtractError(f"building {GO_PROGRAM.name} failed: {done.stderr.strip().splitlines()[-1:]}", 70)
    return binary


def unpack_sources(archive: Path, dest: Path) -> Path:
    """Unpack the LM-Eval trees of one archive; returns the tree's root (archives have one top folder)."""
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            inner = parts[1] if len(parts) == 2 else ""
            if member.isfile() and inner.startswith(SOURCE_PREFIXES) and inner.endswith(".go"):
                member.name = inner
                members.append(member)
        tar.extractall(dest, members=members, filter="data")
    return dest


def module_cache_source() -> Path | None:
    """The upstream module v1.38.0 in the Go module cache, when make controlplane downloaded it."""
    try:
        cache = subprocess.run([go_binary(), "env", "GOMODCACHE"], capture_output=True, text=True,
                               timeout=60, check=False).stdout.strip()
    except (ExtractError, OSError, subprocess.SubprocessError):
        return None
    path = Path(cache) / f"{MODULE}@{UPSTREAM_VERSION}" if cache else None
    return path if path and path.is_dir() else None


def run_extractor(binary: Path, root: Path, release: str) -> list[OperatorMessage]:
    done = subprocess.run([str(binary), str(root)], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise ExtractError(f"{release}: {done.stderr.strip()}", 70)
    return [OperatorMessage(release, m["kind"], m["file"], m["line"], m["text"], m.get("reason", ""))
            for m in json.loads(done.stdout) or []]


def extract(sources: Path = DEFAULT_SOURCES, include_module_cache: bool = True) -> dict[str, list[OperatorMessage]]:
    """Release line (archive name, or 'upstream-v1.38.0') -> its messages."""
    archives = sorted(sources.glob("*.tar.gz")) if sources.is_dir() else []
    upstream = module_cache_source() if include_module_cache else None
    if not archives and upstream is None:
        raise ExtractError(f"no operator sources in {sources} (and {MODULE}@{UPSTREAM_VERSION} not in the "
                           "Go module cache)", 2)
    out: dict[str, list[OperatorMessage]] = {}
    with tempfile.TemporaryDirectory(prefix="lmeval-opmsg-") as tmp:
        work = Path(tmp)
        binary = build_extractor(work)
        for archive in archives:
            release = archive.name.removesuffix(".tar.gz")
            out[release] = run_extractor(binary, unpack_sources(archive, work / release), release)
        if upstream is not None:
            out[f"upstream-{UPSTREAM_VERSION}"] = run_extractor(binary, upstream, UPSTREAM_VERSION)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES,
                        help="directory of trustyai-service-operator *.tar.gz archives")
    parser.add_argument("--no-module-cache", action="store_true", help=f"skip {UPSTREAM_VERSION}")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument("--unmapped", action="store_true", help="only messages with no mapping (exit 1 if any)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from lmeval_setup.rules.operator_messages import mapping_for

    try:
        by_release = extract(args.sources, not args.no_module_cache)
    except ExtractError as exc:
        print(f"extract_operator_messages: {exc}", file=sys.stderr)
        return exc.code
    rows = []
    for messages in by_release.values():
        for m in messages:
            mapped = mapping_for(m.kind, m.text)
            if args.unmapped and mapped is not None:
                continue
            rows.append({**m.__dict__, "rule": mapped.rule if mapped else None,
                         "not_user_facing": mapped.not_user_facing if mapped else None})
    if args.output == "json":
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            target = r["rule"] or (f"not user-facing: {r['not_user_facing']}" if r["not_user_facing"] else "UNMAPPED")
            print(f"{r['release']}\t{r['kind']}\t{r['file']}:{r['line']}\t{r['text']!r}\t{target}")
    return 1 if args.unmapped and rows else 0


if __name__ == "__main__":
    sys.exit(main())
