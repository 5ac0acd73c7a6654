"""Where the real TrustyAI operator of a release line is: its manager, its driver and its shipped CRD.

tools/build-operator.sh (run by `make controlplane`, after the control plane) builds, once per line,

    ${LMEVAL_OPERATOR_DIR:-${XDG_CACHE_HOME:-~/.cache}/lmeval-setup/operator}/<commit>/
        manager   the manager, `go build ./cmd/main.go` of that line's sources
        driver    the LM-Eval driver, `go build ./cmd/lmes_driver` (the init container copies it into the pod)
        src/      the source tree both were built from: config/ (the CRD, the operator's manifests),
                  controllers/ ... ; nothing is read from ../shared once a line is built
        LINE      the line's name (rhoai-2.22, v1.38.0, ...), written last: a build is complete when it exists

The sources: the RHOAI lines from ../shared/upstream/trustyai-service-operator/<line>.tar.gz (skipped with a
message when absent), upstream v1.38.0 from the Go module proxy (always available). Dependencies come from
the Go module proxy.

API (used by the sandbox to run the real manager, and by tests):

    OPERATOR_LINES: dict[str, OperatorLine]   every line that can be built: name, commit, where its sources are
    lines_for_profile(profile) -> list[str]   the lines able to stand in for a profile, best first; ODH
                                              profiles map to the nearest RHOAI line (odh-2.35 -> rhoai-2.25,
                                              odh-3.5 -> rhoai-3.5); rhoai-2.22 falls back to v1.38.0 (the
                                              line ODH 2.22-2.34 track: permissions read at start, no unsafe-code
                                              flags, like rhoai-2.22, but without ValidateUserInput and without
                                              the spec.model enum in its CRD; check OperatorBuild.line)
    find(profile) -> OperatorBuild | None     the first built line for the profile, or None
    locate(profile) -> OperatorBuild          the same, or PrerequisiteError (exit 4) naming the build command
    build_for_line(line) -> OperatorBuild | None
    shipped_crd(profile) -> ShippedCrd | None the LMEvalJob CRD that the profile's line ships, for the sandbox
                                              to install: from a build in the cache, else the line's archive
                                              in ../shared/upstream (LMEVAL_SHARED_DIR), else, for a line the Go
                                              module proxy serves (v1.38.0), `go mod download`; None when no
                                              source is at hand (ShippedCrd.missing says why)

    OperatorBuild (frozen): line, commit, directory, manager, driver, source_dir, crd (the shipped
        LMEvalJob CRD, config/crd/bases/trustyai.opendatahub.io_lmevaljobs.yaml), config_dir, and
        reads_applications_namespace: True when the manager takes its namespace from $APPLICATIONS_NAMESPACE;
        False when it reads only /var/run/secrets/kubernetes.io/serviceaccount/namespace (every line before
        3.5: run it in a private mount namespace that supplies that file, e.g. `unshare -m --propagation
        private sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/... && ... exec manager'`, as
        tests/integration/test_real_manager_start.py does; /var/run is /run, and creating the directory
        before the mount would create it on the host). Derived from the sources.

How to run a manager out of cluster (measured; ../shared/upstream/README.md):
    APPLICATIONS_NAMESPACE=<ns> OTEL_SDK_DISABLED=true KUBECONFIG=<admin> \
        manager --enable-services LMES --metrics-bind-address 0 --health-probe-bind-address 0
It exits 1 when trustyai-service-operator-config is missing in <ns> at start; rhoai-3.5's also exits after
"Starting workers" when that ConfigMap has no lmes-pod-image / lmes-driver-image and neither
RELATED_IMAGE_ODH_TA_LMES_JOB_IMAGE nor RELATED_IMAGE_ODH_TA_LMES_DRIVER_IMAGE is in its environment
(controllers/images/resolver.go). tests/integration/test_real_manager_start.py runs every built line so.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

import yaml

from lmeval_setup.errors import PrerequisiteError
from lmeval_setup.sandbox.cache import cache_dir

CRD_RELATIVE = Path("config/crd/bases/trustyai.opendatahub.io_lmevaljobs.yaml")
UTILS_RELATIVE = Path("controllers/utils/utils.go")
BUILD_HINT = "build it with: bash tools/build-operator.sh (or make controlplane)"
MODULE = "github.com/trustyai-explainability/trustyai-service-operator"


@dataclass(frozen=True)
class OperatorLine:
    """One release line of the TrustyAI operator and where its sources come from."""

    name: str
    commit: str
    _: KW_ONLY
    # Archive under ../shared/upstream/trustyai-service-operator/, or None when the proxy serves it.
    archive: str | None = None
    # Module version on the Go module proxy, when the sources come from there.
    module_version: str | None = None


OPERATOR_LINES: dict[str, OperatorLine] = {
    line.name: line
    for line in (
        OperatorLine("rhoai-2.16", "d028d02248820604ae0bc5396cc1adc783423a42", archive="rhoai-2.16.tar.gz"),
        OperatorLine("rhoai-2.22", "5ffe8e1f01fbc7c825916e0f2a30272563645e12", archive="rhoai-2.22.tar.gz"),
        OperatorLine("rhoai-2.25", "04d5c2d47b86369934a7fdecab252fdbd29eed63", archive="rhoai-2.25.tar.gz"),
        OperatorLine("rhoai-3.0", "b7b8dd9d3c2c6d223ddb38609a225065aa201bfb", archive="rhoai-3.0.tar.gz"),
        OperatorLine("rhoai-3.3", "b9b19931f8a6a928ed81c8879b73a1427809a22c", archive="rhoai-3.3.tar.gz"),
        OperatorLine("rhoai-3.5", "3db6ebb0b637c409bc21d800a548b49428f8cf4a", archive="rhoai-3.5.tar.gz"),
        OperatorLine("v1.38.0", "8b778cd474827e8761013ba15fc0ea54c2916771", module_version="v1.38.0"),
    )
}

# Profile -> the lines that can run it, best first. ODH ships the same operator sources as the RHOAI line
# of the same generation: ODH 2.35 is the first with the DSC eval fields, as RHOAI 2.25; ODH 3.5 = RHOAI 3.5.
_PROFILE_LINES: dict[str, tuple[str, ...]] = {
    "rhoai-2.16": ("rhoai-2.16",),
    "rhoai-2.22": ("rhoai-2.22", "v1.38.0"),
    "rhoai-2.25": ("rhoai-2.25",),
    "rhoai-3.0": ("rhoai-3.0",),
    "rhoai-3.3": ("rhoai-3.3",),
    "rhoai-3.5": ("rhoai-3.5",),
    "odh-2.35": ("rhoai-2.25",),
    "odh-3.5": ("rhoai-3.5",),
}


@dataclass(frozen=True)
class OperatorBuild:
    """A built line: binaries and the source tree they came from."""

    line: str
    commit: str
    directory: Path

    @property
    def manager(self) -> Path:
        return self.directory / "manager"

    @property
    def driver(self) -> Path:
        return self.directory / "driver"

    @property
    def source_dir(self) -> Path:
        return self.directory / "src"

    @property
    def config_dir(self) -> Path:
        return self.source_dir / "config"

    @property
    def crd(self) -> Path:
        """The LMEvalJob CRD this line ships (every line keeps a copy at config/crd/bases)."""
        return self.source_dir / CRD_RELATIVE

    @property
    def reads_applications_namespace(self) -> bool:
        """Does the manager take its namespace from $APPLICATIONS_NAMESPACE (else only the SA file)?"""
        utils = self.source_dir / UTILS_RELATIVE
        return "APPLICATIONS_NAMESPACE" in utils.read_text(encoding="utf-8", errors="replace")


def cache_root() -> Path:
    return cache_dir("operator", override="LMEVAL_OPERATOR_DIR")


def _is_complete(directory: Path) -> bool:
    return (
        (directory / "LINE").is_file()
        and os.access(directory / "manager", os.X_OK)
        and os.access(directory / "driver", os.X_OK)
        and (directory / "src" / CRD_RELATIVE).is_file()
    )


def build_for_line(line: str, root: Path | None = None) -> OperatorBuild | None:
    """The build of `line` if it is complete in the cache, else None."""
    spec = OPERATOR_LINES[line]
    directory = (root or cache_root()) / spec.commit
    return OperatorBuild(line, spec.commit, directory) if _is_complete(directory) else None


def lines_for_profile(profile: str) -> list[str]:
    try:
        return list(_PROFILE_LINES[profile])
    except KeyError:
        raise KeyError(f"no TrustyAI operator line is known for profile {profile!r}") from None


def find(profile: str, root: Path | None = None) -> OperatorBuild | None:
    for line in lines_for_profile(profile):
        build = build_for_line(line, root)
        if build is not None:
            return build
    return None


def locate(profile: str, root: Path | None = None) -> OperatorBuild:
    build = find(profile, root)
    if build is None:
        wanted = " or ".join(lines_for_profile(profile))
        raise PrerequisiteError(
            f"the TrustyAI operator for {profile} ({wanted}) is not built in {root or cache_root()}; {BUILD_HINT}"
        )
    return build


# -- the LMEvalJob CRD each line ships -----------------------------------------------------------------------
REPO_SHARED = Path(__file__).resolve().parents[3] / "shared"
ARCHIVE_DIR = Path("upstream/trustyai-service-operator")
GO_DOWNLOAD_TIMEOUT = 300.0


@dataclass(frozen=True)
class ShippedCrd:
    """A line's LMEvalJob CRD, ready to apply (status and server-set metadata removed), and where it came from."""

    line: str
    source: str  # "build", "archive" or "module proxy"
    body: dict[str, Any]


def shared_dir() -> Path:
    """../shared beside the checkout, or LMEVAL_SHARED_DIR (as tools/build-operator.sh finds it)."""
    return Path(os.environ.get("LMEVAL_SHARED_DIR", "") or REPO_SHARED)


def shipped_crd(profile: str, root: Path | None = None, shared: Path | None = None) -> ShippedCrd | None:
    """The LMEvalJob CRD of the first line of `profile` whose sources are at hand (see the module docstring)."""
    for line in lines_for_profile(profile):
        found = _crd_of_line(line, root, shared or shared_dir())
        if found is not None:
            return found
    return None


def missing_crd_reason(profile: str, root: Path | None = None, shared: Path | None = None) -> str:
    """Why shipped_crd(profile) found nothing: the places it looked."""
    lines = lines_for_profile(profile)
    archives = [OPERATOR_LINES[n].archive for n in lines if OPERATOR_LINES[n].archive]
    proxied = [n for n in lines if OPERATOR_LINES[n].module_version]
    where = [f"no build of {' or '.join(lines)} in {root or cache_root()}"]
    if archives:
        where.append(f"no {' or '.join(map(str, archives))} in {(shared or shared_dir()) / ARCHIVE_DIR}")
    if proxied:
        where.append(f"{' or '.join(proxied)} not downloadable from the Go module proxy (go on PATH, network)")
    return "; ".join(where)


def _crd_of_line(line: str, root: Path | None, shared: Path) -> ShippedCrd | None:
    spec = OPERATOR_LINES[line]
    build = build_for_line(line, root)
    if build is not None:
        return ShippedCrd(line, "build", _copy(_parsed_crd(str(build.crd))))
    if spec.archive and (shared / ARCHIVE_DIR / spec.archive).is_file():
        return ShippedCrd(line, "archive", _copy(_crd_from_archive(str(shared / ARCHIVE_DIR / spec.archive))))
    if spec.module_version:
        directory = _module_dir(spec.module_version)
        if directory is not None and (directory / CRD_RELATIVE).is_file():
            return ShippedCrd(line, "module proxy", _copy(_parsed_crd(str(directory / CRD_RELATIVE))))
    return None


def _copy(crd: dict[str, Any]) -> dict[str, Any]:
    """The cached CRDs are shared; a JSON round trip (a few ms) gives each caller its own."""
    return dict(json.loads(json.dumps(crd)))


def applicable(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD as one applies it: without status and without metadata the server sets."""
    metadata = crd.get("metadata") or {}
    kept = {k: metadata[k] for k in ("name", "annotations", "labels") if metadata.get(k)}
    return {"apiVersion": crd["apiVersion"], "kind": crd["kind"], "metadata": kept, "spec": crd["spec"]}


def _load_yaml(stream: Any) -> dict[str, Any]:
    # The C loader: a shipped CRD is ~330 KB of YAML (0.02 s with it, ~1 s without).
    return dict(yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


@functools.lru_cache(maxsize=16)
def _parsed_crd(path: str) -> dict[str, Any]:
    """Parsed once per process (the sandbox installs a profile per control plane)."""
    with open(path, encoding="utf-8") as handle:
        return applicable(_load_yaml(handle))


@functools.lru_cache(maxsize=16)
def _crd_from_archive(archive: str) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile() and member.name.split("/", 1)[-1] == str(CRD_RELATIVE):
                handle = tar.extractfile(member)
                if handle is not None:
                    return applicable(_load_yaml(handle))
    raise FileNotFoundError(f"{archive} has no {CRD_RELATIVE}")


@functools.lru_cache(maxsize=4)
def _module_dir(version: str) -> Path | None:
    """The module's directory in the Go module cache (downloaded from the proxy on first use), or None."""
    go = shutil.which("go")
    if go is None:
        return None
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    try:
        done = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@{version}"], capture_output=True,
                              text=True, env=env, timeout=GO_DOWNLOAD_TIMEOUT, check=False, cwd="/")
        directory = json.loads(done.stdout or "{}").get("Dir") if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return Path(directory) if directory else None
