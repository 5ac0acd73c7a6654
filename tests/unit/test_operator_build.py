"""Where the real TrustyAI operator builds are (sandbox/operator_build.py) and the script that makes them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from lmeval_setup.errors import PrerequisiteError
from lmeval_setup.platform.releases import PROFILES
from lmeval_setup.sandbox import operator_build as OB

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "build-operator.sh"


def _script_lines() -> dict[str, tuple[str, str]]:
    text = SCRIPT.read_text()
    block = text[text.index("LINES=(") : text.index(")\n", text.index("LINES=("))]
    return {m[0]: (m[1], m[2]) for m in re.findall(r'"(\S+) ([0-9a-f]{40}) (\S+)"', block)}


def test_script_and_module_name_the_same_lines_and_commits() -> None:
    script = _script_lines()
    assert set(script) == set(OB.OPERATOR_LINES)
    for name, line in OB.OPERATOR_LINES.items():
        commit, source = script[name]
        assert commit == line.commit, name
        assert source == (f"archive:{line.archive}" if line.archive else f"proxy:{line.module_version}"), name


def test_every_profile_has_a_line_and_odh_maps_to_the_nearest_rhoai_line() -> None:
    for name in PROFILES:
        assert all(line in OB.OPERATOR_LINES for line in OB.lines_for_profile(name)), name
    assert OB.lines_for_profile("odh-2.35") == ["rhoai-2.25"]
    assert OB.lines_for_profile("odh-3.5") == ["rhoai-3.5"]
    assert OB.lines_for_profile("rhoai-2.22") == ["rhoai-2.22", "v1.38.0"]


def _fake_build(root: Path, line: str, *, complete: bool = True) -> Path:
    directory = root / OB.OPERATOR_LINES[line].commit
    (directory / "src" / OB.CRD_RELATIVE).parent.mkdir(parents=True)
    (directory / "src" / OB.CRD_RELATIVE).write_text("kind: CustomResourceDefinition\n")
    (directory / "src" / OB.UTILS_RELATIVE).parent.mkdir(parents=True)
    (directory / "src" / OB.UTILS_RELATIVE).write_text('os.Getenv("APPLICATIONS_NAMESPACE")\n')
    for binary in ("manager", "driver"):
        (directory / binary).write_text("#!/bin/sh\n")
        (directory / binary).chmod(0o755)
    if complete:
        (directory / "LINE").write_text(line + "\n")
    return directory


def test_locate_finds_a_complete_build_and_falls_back_in_order(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError, match=r"rhoai-2\.22 or v1\.38\.0.*tools/build-operator\.sh"):
        OB.locate("rhoai-2.22", tmp_path)
    _fake_build(tmp_path, "v1.38.0")
    assert OB.locate("rhoai-2.22", tmp_path).line == "v1.38.0"
    directory = _fake_build(tmp_path, "rhoai-2.22")
    build = OB.locate("rhoai-2.22", tmp_path)
    assert (build.line, build.manager, build.driver) == ("rhoai-2.22", directory / "manager", directory / "driver")
    assert build.crd == directory / "src" / "config/crd/bases/trustyai.opendatahub.io_lmevaljobs.yaml"
    assert build.reads_applications_namespace


def test_an_interrupted_build_is_not_found(tmp_path: Path) -> None:
    _fake_build(tmp_path, "rhoai-3.5", complete=False)
    assert OB.find("rhoai-3.5", tmp_path) is None


def test_cache_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LMEVAL_OPERATOR_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert OB.cache_root() == tmp_path / "lmeval-setup" / "operator"
    monkeypatch.setenv("LMEVAL_OPERATOR_DIR", str(tmp_path / "elsewhere"))
    assert OB.cache_root() == tmp_path / "elsewhere"


def _run_script(tmp_path: Path, *lines: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LMEVAL_SHARED_DIR": str(tmp_path / "no-shared"),
           "LMEVAL_OPERATOR_DIR": str(tmp_path / "cache")}
    return subprocess.run(["bash", str(SCRIPT), *lines], capture_output=True, text=True, env=env, timeout=60)


def test_script_skips_a_line_whose_archive_is_absent(tmp_path: Path) -> None:
    done = _run_script(tmp_path, "rhoai-2.16", "rhoai-3.5")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("skipped, no source archive") == 2
    assert done.stdout.strip().splitlines()[-1] == str(tmp_path / "cache")


def test_script_names_an_unknown_line(tmp_path: Path) -> None:
    done = _run_script(tmp_path, "rhoai-9.9")
    assert done.returncode == 2 and "unknown operator line 'rhoai-9.9'" in done.stderr


def test_script_does_nothing_for_a_built_line(tmp_path: Path) -> None:
    _fake_build(tmp_path / "cache", "rhoai-3.5")
    done = _run_script(tmp_path, "rhoai-3.5")
    assert done.returncode == 0 and "operator rhoai-3.5: built" in done.stderr


# -- the LMEvalJob CRD a profile installs (operator_build.shipped_crd) ---------------------------------------
def _crd_text(marker: str) -> str:
    return ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            "metadata: {name: lmevaljobs.trustyai.opendatahub.io, creationTimestamp: null,"
            f" annotations: {{from: {marker}}}}}\nspec: {{group: trustyai.opendatahub.io}}\n"
            "status: {acceptedNames: {kind: ''}}\n")


def _fake_archive(shared: Path, line: str, marker: str) -> None:
    import io
    import tarfile
    directory = shared / OB.ARCHIVE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    data = _crd_text(marker).encode()
    with tarfile.open(directory / str(OB.OPERATOR_LINES[line].archive), "w:gz") as tar:
        info = tarfile.TarInfo(f"trustyai-service-operator-{line}/{OB.CRD_RELATIVE}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_shipped_crd_comes_from_the_build_then_the_archive_then_the_module_proxy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, shared, module = tmp_path / "cache", tmp_path / "shared", tmp_path / "module"
    (module / OB.CRD_RELATIVE).parent.mkdir(parents=True)
    (module / OB.CRD_RELATIVE).write_text(_crd_text("proxy"))
    monkeypatch.setattr(OB, "_module_dir", lambda version: module if version == "v1.38.0" else None)
    # Nothing at hand for 3.5 (the proxy serves only v1.38.0): None, and the reason names every place.
    assert OB.shipped_crd("rhoai-3.5", cache, shared) is None
    reason = OB.missing_crd_reason("rhoai-3.5", cache, shared)
    assert "no build of rhoai-3.5" in reason and "rhoai-3.5.tar.gz" in reason and "proxy" not in reason
    # rhoai-2.22 without its archive: v1.38.0, the line ODH 2.22-2.34 track, from the proxy.
    found = OB.shipped_crd("rhoai-2.22", cache, shared)
    assert found is not None and (found.line, found.source) == ("v1.38.0", "module proxy")
    _fake_archive(shared, "rhoai-2.22", "archive")
    found = OB.shipped_crd("rhoai-2.22", cache, shared)
    assert found is not None and (found.line, found.source) == ("rhoai-2.22", "archive")
    # Ready to apply: no status, no server-set metadata.
    assert "status" not in found.body
    assert found.body["metadata"] == {"name": "lmevaljobs.trustyai.opendatahub.io", "annotations": {"from": "archive"}}
    (_fake_build(cache, "rhoai-2.22") / "src" / OB.CRD_RELATIVE).write_text(_crd_text("build"))
    found = OB.shipped_crd("rhoai-2.22", cache, shared)
    assert found is not None and (found.line, found.source) == ("rhoai-2.22", "build")
    assert found.body["metadata"]["annotations"] == {"from": "build"}
    # Each caller gets its own copy of the cached CRD.
    found.body["spec"]["group"] = "changed"
    again = OB.shipped_crd("rhoai-2.22", cache, shared)
    assert again is not None and again.body["spec"]["group"] == "trustyai.opendatahub.io"


def test_odh_profiles_install_the_crd_of_their_rhoai_line(tmp_path: Path) -> None:
    _fake_archive(tmp_path / "shared", "rhoai-2.25", "2.25")
    found = OB.shipped_crd("odh-2.35", tmp_path / "cache", tmp_path / "shared")
    assert found is not None and found.line == "rhoai-2.25"


def test_the_real_operator_is_the_default_on_every_line_that_passed_the_suites(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified per line with LMEVAL_SANDBOX_OPERATOR=real (realoperator.REAL_BY_DEFAULT says which runs)."""
    from lmeval_setup.sandbox import realoperator

    monkeypatch.delenv(realoperator.ENV_SWITCH, raising=False)
    real = {name for name in PROFILES if realoperator.mode(name) == "real"}
    assert real == {"rhoai-2.16", "rhoai-2.22", "rhoai-2.25", "rhoai-3.0", "rhoai-3.3", "rhoai-3.5", "odh-2.35",
                    "odh-3.5"}
