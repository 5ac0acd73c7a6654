"""The release table states what the real TrustyAI operator of each line does: pinned against its sources.

Every fact below is read from the operator sources as shipped per RHOAI line
(../shared/upstream/trustyai-service-operator/<line>.tar.gz, read in place, never extracted into the repo)
and, when tools/build-operator.sh has fetched it, upstream v1.38.0 (the line ODH 2.22-2.34 track). A
release-table row that drifts from its line's code fails here. Each archive is skipped with a reason when
absent.
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.platform.releases import Release, release_for
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox.trustyai_operator import validate_job

pytestmark = pytest.mark.shared
REPO = Path(__file__).resolve().parents[2]
ARCHIVE_LINES = [name for name, line in OB.OPERATOR_LINES.items() if line.archive]
# The release-table row each line's sources stand for.
ROW_OF_LINE = {
    "rhoai-2.16": ("rhoai", (2, 16)),
    "rhoai-2.22": ("rhoai", (2, 22)),
    "rhoai-2.25": ("rhoai", (2, 25)),
    "rhoai-3.0": ("rhoai", (3, 0)),
    "rhoai-3.3": ("rhoai", (3, 3)),
    "rhoai-3.5": ("rhoai", (3, 5)),
    "v1.38.0": ("odh", (2, 22)),
}
CONTROLLER = "controllers/lmes/lmevaljob_controller.go"
CONFIG = "controllers/lmes/config.go"
CONSTANTS = "controllers/lmes/constants.go"
DSC_READER = "controllers/dsc/config.go"


@dataclass(frozen=True)
class Sources:
    line: str
    files: dict[str, str]  # relative path -> text, for the files read here

    def text(self, path: str) -> str:
        return self.files.get(path, "")

    def crd(self) -> dict[str, Any]:
        if self.line not in _PARSED_CRDS:  # ~300 kB of YAML: parse once per line
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            _PARSED_CRDS[self.line] = dict(yaml.load(self.files[str(OB.CRD_RELATIVE)], Loader=loader))
        return _PARSED_CRDS[self.line]


_PARSED_CRDS: dict[str, dict[str, Any]] = {}


VALIDATION = "controllers/lmes/validation.go"
RHOAI_PARAMS = "config/overlays/rhoai/params.env"
BASE_PARAMS = "config/base/params.env"
WANTED = (CONTROLLER, CONFIG, CONSTANTS, DSC_READER, VALIDATION, RHOAI_PARAMS, BASE_PARAMS, str(OB.CRD_RELATIVE),
          str(OB.UTILS_RELATIVE), "cmd/main.go")


@cache
def _archive_sources(path: Path, line: str) -> Sources:
    files: dict[str, str] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            relative = member.name.split("/", 1)[-1]
            if relative in WANTED and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                files[relative] = handle.read().decode()
    return Sources(line, files)


def _tree_sources(root: Path, line: str) -> Sources:
    return Sources(line, {p: (root / p).read_text() for p in WANTED if (root / p).is_file()})


@pytest.fixture(params=[*ARCHIVE_LINES, "v1.38.0"])
def sources(request: pytest.FixtureRequest) -> Sources:
    line = OB.OPERATOR_LINES[request.param]
    if line.archive:
        shared = Path(os.environ.get("LMEVAL_SHARED_DIR", REPO.parent / "shared"))
        archive = shared / "upstream" / "trustyai-service-operator" / line.archive
        if not archive.is_file():
            pytest.skip(f"{archive} not found (the operator sources of {line.name} live in ../shared)")
        src = _archive_sources(archive, line.name)
        assert _archive_commit(archive) == line.commit, f"{archive} is not commit {line.commit}"
        return src
    build = OB.build_for_line(line.name)
    if build is None:
        pytest.skip(f"{line.name} is not built yet (tools/build-operator.sh fetches it from the Go module proxy)")
    return _tree_sources(build.source_dir, line.name)


@cache
def _archive_commit(path: Path) -> str:
    with tarfile.open(path) as tar:
        return str(tar.pax_headers.get("comment", ""))


def _row(src: Sources) -> Release:
    platform, version = ROW_OF_LINE[src.line]
    return release_for(platform, version)  # type: ignore[arg-type]


def _lmevaljob_schema(src: Sources) -> dict[str, Any]:
    return dict(src.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_every_line_maps_to_a_row() -> None:
    assert set(ROW_OF_LINE) == set(OB.OPERATOR_LINES)


def test_allow_online_flag_is_passed_where_the_controller_passes_it(sources: Sources) -> None:
    """2.16's generateCmd has no --allow-online (its driver has no such flag): online is the env alone."""
    passes_flag = 'cmds = append(cmds, "--allow-online")' in sources.text(CONTROLLER)
    assert _row(sources).allow_online_flag == passes_flag, sources.line
    assert "offlineHuggingFaceEnvVars" in sources.text(CONTROLLER)  # every line sets HF_*_OFFLINE when offline


def test_unsafe_code_flags_exist_only_from_the_225_line(sources: Sources) -> None:
    """--confirm_run_unsafe_code and HF_ALLOW_CODE_EVAL: in the controller from 2.25 on, nowhere before."""
    controller = sources.text(CONTROLLER)
    passes_flag = '"--confirm_run_unsafe_code"' in controller
    sets_env = '"HF_ALLOW_CODE_EVAL"' in controller
    assert passes_flag == sets_env
    assert _row(sources).unsafe_code_flags == passes_flag


def test_spec_model_enum_is_in_the_shipped_crd(sources: Sources) -> None:
    model = _lmevaljob_schema(sources)["properties"]["spec"]["properties"]["model"]
    assert _row(sources).lmevaljob_model_enum == ("enum" in model)


def test_progress_bars_follow_the_shipped_crd(sources: Sources) -> None:
    status = _lmevaljob_schema(sources)["properties"]["status"]["properties"]
    assert _row(sources).has_progress_bars == ("progressBars" in status)


def test_permissions_are_read_per_job_exactly_where_the_controller_does(sources: Sources) -> None:
    controller = sources.text(CONTROLLER)
    per_job = "ReadEffectivePermissions(ctx" in controller and "permConfig.AllowCodeExecution" in controller
    at_start = "svcOpts.AllowCodeExecution" in controller
    assert per_job != at_start
    assert _row(sources).permissions_read_per_job == per_job


def test_unparsable_permission_counts_as_true_only_where_read_at_start(sources: Sources) -> None:
    """constructOptionsFromConfigMap: an unparsable bool becomes DefaultDetectDevice, which is true."""
    config, constants = sources.text(CONFIG), sources.text(CONSTANTS)
    assert "val = DefaultDetectDevice" in config
    assert re.search(r"DefaultDetectDevice\s*=\s*true", constants)
    row = _row(sources)
    if row.permissions_read_per_job:
        # ReadEffectivePermissions assigns only what ParseBool accepts; the default is false.
        body = config[config.index("func ReadEffectivePermissions"):]
        assert re.search(r"strconv\.ParseBool\(allowOnlineStr\); err == nil", body)
        assert re.search(r"strconv\.ParseBool\(allowCodeExecutionStr\); err == nil", body)
        assert not row.unparsable_permission_grants
    else:
        assert row.unparsable_permission_grants


def test_dsc_config_replaces_both_permissions_and_a_missing_key_is_false(sources: Sources) -> None:
    reader, config = sources.text(DSC_READER), sources.text(CONFIG)
    row = _row(sources)
    assert bool(reader) == (row.permission_layer == "dsc") == row.permissions_read_per_job
    if not reader:
        return
    assert 'DSCConfigMapName = "trustyai-dsc-config"' in reader
    # processDSCConfig starts from a zero DSCConfig and sets only the keys present and parsable.
    assert "config := &DSCConfig{}" in reader
    body = config[config.index("func ReadEffectivePermissions"):]
    assert "config.AllowOnline = dscConfig.AllowOnline" in body
    assert "config.AllowCodeExecution = dscConfig.AllowCodeExecution" in body


def test_a_missing_operator_configmap_stops_the_manager_at_start(sources: Sources) -> None:
    """The LMES controller's start-up runnable returns the Get error: the manager exits 1 (crash loop)."""
    controller = sources.text(CONTROLLER)
    setup = controller[controller.index("func (r *LMEvalJobReconciler) SetupWithManager"):]
    runnable = setup[: setup.index("constructOptionsFromConfigMap")]
    assert '"failed to get configmap"' in runnable
    assert re.search(r'"failed to get configmap",[^}]*return err', runnable, re.S)


def test_only_35_takes_its_namespace_from_the_environment(sources: Sources) -> None:
    utils = sources.text(str(OB.UTILS_RELATIVE))
    assert "/var/run/secrets/kubernetes.io/serviceaccount/namespace" in utils
    assert ("APPLICATIONS_NAMESPACE" in utils) == (sources.line == "rhoai-3.5")


def test_no_line_validates_system_instruction_and_neither_does_the_stand_in(sources: Sources) -> None:
    """ValidateSystemInstruction is defined on some lines but called on none: '|&;' in it are accepted."""
    calls = [line for path, text in sources.files.items() if path.endswith(".go")
             for line in text.splitlines() if "ValidateSystemInstruction(" in line and "func " not in line]
    assert calls == []
    spec = {"model": "hf", "taskList": {"taskNames": ["arc_easy"]}, "systemInstruction": "a | b & c; $(d)"}
    assert validate_job(spec) == ""


def _lmes_params(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.startswith("lmes-") and "=" in line)
    return {k: v for k, v in pairs if not k.endswith("-image")}


def test_shipped_lmes_defaults_are_the_release_tables(sources: Sources) -> None:
    """The operator ConfigMap's lmes-* keys as each overlay ships them: RHOAI's overlay and ODH's base."""
    platform, version = ROW_OF_LINE[sources.line]
    rhoai = release_for("rhoai", version if platform == "rhoai" else (2, 17))
    odh = release_for("odh", version if platform == "odh" else (2, 35))
    assert _lmes_params(sources.text(RHOAI_PARAMS)) == rhoai.lmes_defaults
    assert _lmes_params(sources.text(BASE_PARAMS)) == odh.lmes_defaults
