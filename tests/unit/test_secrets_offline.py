"""Secrets without a cluster (issue 17 item 4): credentials planted under 24 realistic names and in URLs
appear in no output format of lint or doctor --from-dir, nor in any file --collect writes; those files are
0600 under 0700 directories; rules see real values, so no false LME015 on a '<redacted>' placeholder.

The live half (a real apiserver, kubeconfig tokens, pod logs, doctor --collect through the CLI) is
tests/integration/test_secrets.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from doctor_support import add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.doctor.offline import read_dir
from lmeval_setup.doctor.writer import write_dir
from lmeval_setup.errors import UsageError
from lmeval_setup.lint import lint_text
from lmeval_setup.redact import REDACTED, is_secret_name, redact_text

# Realistic credential names, each with a value of no well-known shape: only the name can hide it.
SECRET_NAMES = (
    "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "DB_PASS", "PGPASSWORD", "CLIENT_CERT_KEY",
    "MYSQL_PWD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "JWT_SECRET", "SIGNING_KEY", "BASIC_AUTH", "GITHUB_TOKEN", "WANDB_API_KEY", "NGC_API_KEY", "LDAP_BIND_PW",
    "SMTP_PASS", "DOCKER_PASSWORD", "TLS_KEY", "clientSecret", "x-api-key", "auth_token", "PASSPHRASE",
    "access_token", "HFToken", "KUBE_TOKEN",
)
NOT_SECRET_NAMES = (
    "KEY_FIELD", "tokenizer", "max_tokens", "max_new_tokens", "TOKENIZERS_PARALLELISM", "TOKEN_LIMIT", "SECRET_NAME",
    "PASSWORD_FILE", "PGPASSFILE", "SORT_KEY", "CACHE_KEY", "AWS_ACCESS_KEY_ID", "HF_HUB_OFFLINE", "PASSTHROUGH",
    "BYPASS_PROXY", "KEYCLOAK_URL", "AUTH_TYPE", "OAUTH_ENABLED", "base_url", "verify_certificate", "CLIENT_ID",
    "HF_HOME", "TRUST_REMOTE_CODE", "num_concurrent", "add_bos_token", "pad_token", "eos_token_id", "COOKIE_DOMAIN",
)
PLANTED = {name: f"planted{i:02d}-Qx7vR2mK" for i, name in enumerate(SECRET_NAMES)}
URL_PASSWORD = "plantedUrlPw-5Jk8"
ARG_KEY = "plantedArgKey-9Lm3"
LOG_PASSWORD = "plantedLogPw-3Hq1"
BASE_URL = f"http://evaluser:{URL_PASSWORD}@granite-predictor.demo.svc.cluster.local:8080/v1/completions"
EVERY_SECRET = (*PLANTED.values(), URL_PASSWORD, ARG_KEY, LOG_PASSWORD)
LOG = (f"INFO connecting to postgres://eval:{LOG_PASSWORD}@db:5432/results\n"
       f"DEBUG env PGPASSWORD={PLANTED['PGPASSWORD']} HF_TOKEN: {PLANTED['HF_TOKEN']}\n"
       "Traceback (most recent call last):\n"
       "ConnectionError: Couldn't reach 'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled)\n")


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_names_that_only_mention_a_credential_are_not(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(("text", "shown"), [
    (f"GET {BASE_URL}", "http://evaluser:<redacted>@granite-predictor"),
    ("401 for url: http://m/v1/completions?api_key=abcd1234&x=1", "?api_key=<redacted>&x=1"),
    ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer <redacted>"),
    ('{"DB_PASS": "hunter2!", "max_tokens": 1024}', '"DB_PASS": "<redacted>", "max_tokens": 1024'),
    ("tokenizer=ibm-granite/granite-3.1-8b-instruct", "tokenizer=ibm-granite/granite-3.1-8b-instruct"),
])
def test_redact_text(text: str, shown: str) -> None:
    assert shown in redact_text(text)


def job_with_planted_credentials() -> dict[str, Any]:
    job = lmevaljob()
    args = [a for a in job["spec"]["modelArgs"] if a["name"] != "base_url"]
    job["spec"]["modelArgs"] = [*args, {"name": "base_url", "value": BASE_URL}, {"name": "api_key", "value": ARG_KEY}]
    job["spec"]["pod"] = {"container": {"env": [{"name": n, "value": v} for n, v in PLANTED.items()]}}
    return job


def assert_no_secret(text: str, where: str) -> None:
    leaked = [s for s in EVERY_SECRET if s in text]
    assert not leaked, f"{where}: leaked {leaked}\n{text[:3000]}"


def cli(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**env, "NO_COLOR": "1"})
    assert_no_secret(proc.stdout + proc.stderr, " ".join(map(str, args)))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_lint_flags_every_planted_credential_and_prints_none(tmp_path: Path) -> None:
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(job_with_planted_credentials(), sort_keys=False))
    for fmt in ("text", "json", "yaml", "junit", "sarif"):
        proc = cli(tmp_path, "lint", manifest, "-o", fmt)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "placeholder '<redacted>'" not in proc.stdout, proc.stdout
    flagged = {f.evidence[0].text.split("=")[0] for f in lint_text(manifest.read_text()).findings
               if f.rule_id == "LME018"}
    assert flagged == {*SECRET_NAMES, "api_key", "base_url"}


def must_gather(root: Path) -> Path:
    """A tree as `oc adm must-gather` writes it: nothing redacted (--collect output is, by us)."""
    snap = cluster_snapshot("rhoai-2.22")
    job = with_status(job_with_planted_credentials(), state="Complete", reason="Failed", message="exit status 1")
    add_job(snap, job, pod(env=job["spec"]["pod"]["container"]["env"]), LOG)
    tree = write_dir(snap, root)
    (tree / "lmeval-setup-snapshot.yaml").unlink()
    raw = {tree / "namespaces/demo/trustyai.opendatahub.io/lmevaljobs/evaljob.yaml": job,
           tree / "namespaces/demo/pods/evaljob/evaljob.yaml": pod(env=job["spec"]["pod"]["container"]["env"])}
    for path, obj in raw.items():
        path.unlink()
        path.write_text(yaml.safe_dump(obj))
    log = tree / "namespaces/demo/pods/evaljob/main/main/logs/current.log"
    log.unlink()
    log.write_text(LOG)
    return tree


def test_doctor_from_dir_prints_no_credential_in_any_format(tmp_path: Path) -> None:
    tree = must_gather(tmp_path / "must-gather")
    assert PLANTED["DB_PASS"] in (tree / "namespaces/demo/pods/evaljob/evaljob.yaml").read_text()  # really planted
    for fmt in ("text", "json", "yaml", "junit", "sarif"):
        proc = cli(tmp_path, "doctor", "--from-dir", tree, "-o", fmt)
        assert proc.returncode == 1 and "LME018" in proc.stdout and "OfflineModeIsEnabled" in proc.stdout, proc.stdout


def test_collect_files_are_private_redacted_and_read_back_alike(tmp_path: Path) -> None:
    snap = read_dir(must_gather(tmp_path / "must-gather"))
    snap.notes.append(f"log fetch failed: GET {BASE_URL}")
    live = evaluate(snap).findings
    # The one LME015 is real: the CRD's pattern rejects the '@' of a URL with a password.
    assert [f.evidence[0].path for f in live if f.rule_id == "LME015"] == ["spec.modelArgs[5].value"]
    out = write_dir(snap, tmp_path / "collected")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 8
    for path in out.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
        if path.is_file():
            assert_no_secret(path.read_text(), str(path))
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    back = evaluate(read_dir(out)).findings
    # The <redacted> placeholders are known for what they replaced: LME018, never a placeholder LME015.
    assert not [f for f in back if "placeholder" in f.message]
    assert sorted((f.rule_id, f.evidence[0].path) for f in back) == sorted((f.rule_id, f.evidence[0].path)
                                                                           for f in live)
    assert REDACTED in (out / "namespaces/demo/pods/evaljob/evaljob.yaml").read_text()


def test_collect_refuses_links_files_and_unwritable_targets(tmp_path: Path) -> None:
    snap = cluster_snapshot("rhoai-2.22")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for target, why in (("link", "symbolic link"), ("file", "not a directory"), ("full", "not empty"),
                        ("file/sub", "cannot write")):
        with pytest.raises(UsageError, match=why):
            write_dir(snap, tmp_path / target)
    assert list(elsewhere.iterdir()) == []
    # Through the CLI: refused (exit 2, one line) before any cluster is contacted.
    proc = cli(tmp_path, "doctor", "--collect", tmp_path / "link", "--kubeconfig", tmp_path / "none.kubeconfig")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "symbolic link" in proc.stderr, proc.stderr
    proc = cli(tmp_path, "doctor", "--collect", tmp_path / "file" / "sub", "--kubeconfig", tmp_path / "none")
    assert proc.returncode == 2 and "cannot write" in proc.stderr, proc.stderr
