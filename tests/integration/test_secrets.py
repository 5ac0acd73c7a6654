"""Secrets never leak: planted credentials appear in no output of any command, nor in any file left behind.

Planted, each in a place a command reads:
- KUBE_TOKEN: a bearer token in the kubeconfig every command uses (the admin's client certificate
  authenticates; the token rides along in every request, as an expired OpenShift token would);
- ENV_KEY: a literal OPENAI_API_KEY value in the env of LMEvalJobs (and of their pods);
- ARG_KEY: an api_key model argument (lm-eval echoes model_args into the job's log header, too);
- LOG_BEARER: an `Authorization: Bearer` line in the job pods' logs (a kubelet behaviour);
- PLANTED_ENV: 22 more credentials in the jobs' env under the names real deployments use (DB_PASS,
  PGPASSWORD, CLIENT_CERT_KEY, ...), values of no well-known shape, so only the name classifier hides them,
  and URL_PASSWORD in a DATABASE_URL (a harmless name: the URL's shape gives it away).

The cluster: an own control plane with the rhoai-2.25 sandbox, `bootstrapped`. Every command runs as a
subprocess with TMPDIR, HOME and the working directory pointed into the test's directory, so leftovers
(e.g. a bootstrap runner's private data dir) are found by listing them afterwards. Where a secret
legitimately lives (the kubeconfig file, the manifest the test wrote, the cluster's objects) is not
checked; what the commands print or write is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testsupport import require_controlplane_binaries

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

pytestmark = pytest.mark.controlplane

PROFILE = "rhoai-2.25"
NS = "leaky"
PROVISION_NS = "leaky-ci"
KUBE_TOKEN = "sha256~PlantedKubeconfigToken0123456789abcdefXYZ"
ENV_KEY = "sk-plantedOpenAIkey0123456789abcdefABCDEF"
ARG_KEY = "plantedModelArgKey-7f3a9c2e5b"  # no well-known token shape: only field-aware redaction hides it
LOG_BEARER = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.cGxhbnRlZHNpZ25hdHVyZQ"
PLANTED_ENV = {name: f"planted{i:02d}-Vw4sN8pZ" for i, name in enumerate((
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "DB_PASS", "PGPASSWORD", "CLIENT_CERT_KEY", "MYSQL_PWD", "REDIS_PASSWORD",
    "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "JWT_SECRET", "SIGNING_KEY", "BASIC_AUTH",
    "GITHUB_TOKEN", "WANDB_API_KEY", "NGC_API_KEY", "LDAP_BIND_PW", "SMTP_PASS", "DOCKER_PASSWORD", "TLS_KEY",
    "clientSecret", "PASSPHRASE"))}
URL_PASSWORD = "plantedUrlPw-2Rt6"
SECRETS = (KUBE_TOKEN, ENV_KEY, ARG_KEY, LOG_BEARER, URL_PASSWORD, *PLANTED_ENV.values())
FAILING_JOB, GOOD_JOB = "leaky-fails", "leaky-ok"


def leaky_job(name: str, namespace: str, *, base_url: str) -> dict[str, Any]:
    from lmeval_setup.sandbox import jobs as J

    return {
        "apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": "local-completions",
            "modelArgs": [{"name": "model", "value": J.SERVED_MODEL}, {"name": "base_url", "value": base_url},
                          {"name": "tokenizer", "value": J.HF_TOKENIZER}, {"name": "api_key", "value": ARG_KEY}],
            "taskList": {"taskNames": [J.LOGLIKELIHOOD_TASK]}, "limit": "10", "allowOnline": True,
            "pod": {"container": {"env": [
                {"name": "OPENAI_API_KEY", "value": ENV_KEY},
                {"name": "DATABASE_URL", "value": f"postgresql://eval:{URL_PASSWORD}@results-db:5432/evals"},
                *({"name": n, "value": v} for n, v in PLANTED_ENV.items())]}},
        },
    }


def bearer_process(resolve: Any) -> Any:
    """A kubelet process resolver: the job's real `main` (lm-eval), after an Authorization header line."""
    def resolver(pod: dict[str, Any], container: dict[str, Any]) -> Any:
        spec = resolve(pod, container)
        if spec is None or container.get("name") != "main" or pod["metadata"]["namespace"] not in (NS, PROVISION_NS):
            return spec
        line = f"DEBUG sending request: Authorization: Bearer {LOG_BEARER}"
        return dataclasses.replace(spec, argv=("sh", "-c", 'echo "$0"; exec "$@"', line, *spec.argv))
    return resolver


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox
    from lmeval_setup.sandbox.scenarios import serve_model

    require_controlplane_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("secrets-plane"))
    plane.start()
    try:
        with running_sandbox(plane, PROFILE, "bootstrapped") as sb:
            kubelet = sb.simulator("kubelet").instance
            kubelet.process_resolvers[:] = [bearer_process(r) for r in kubelet.process_resolvers]  # real lm-eval
            serve_model(sb.kube)  # the model the jobs evaluate (the real lm-eval connects to it)
            P.ensure_namespace(sb.kube, NS)
            jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
            sb.kube.create(jobs, leaky_job(FAILING_JOB, NS, base_url=f"{J.ENDPOINT}/v1"))  # LME002: fails
            sb.kube.create(jobs, leaky_job(GOOD_JOB, NS, base_url=J.COMPLETIONS_URL))
            sb.wait_for(lambda: _finished(sb.kube, FAILING_JOB) and _finished(sb.kube, GOOD_JOB),
                        "the planted jobs to finish", timeout=180)
            _assert_planted(sb.kube)
            yield sb
    finally:
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def _assert_planted(kube: Kube) -> None:
    """The secrets are really where commands look: else a clean output would prove nothing."""
    job = kube.get(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS, FAILING_JOB))
    log = kube.pod_log(NS, job["status"]["podName"], "main")
    assert LOG_BEARER in log and ARG_KEY in log, log[:2000]  # lm-eval's header echoes model_args
    pod = json.dumps(kube.get(resource_path("", "v1", "pods", NS, job["status"]["podName"])))
    assert ENV_KEY in pod and URL_PASSWORD in pod and all(v in pod for v in PLANTED_ENV.values())


def _finished(kube: Kube, name: str) -> bool:
    job = kube.get(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS, name))
    return (job.get("status") or {}).get("state") == "Complete"


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Where commands run (cwd), keep temp files (TMPDIR) and home (HOME); inputs live apart."""
    root = tmp_path_factory.mktemp("secrets-run")
    dirs = {name: root / name for name in ("cwd", "tmp", "home", "inputs", "outputs")}
    for path in dirs.values():
        path.mkdir()
    return dirs


@pytest.fixture(scope="module")
def planted_kubeconfig(box: Any, place: dict[str, Path]) -> Path:
    config = yaml.safe_load(Path(box.kubeconfig).read_text())
    config["users"][0]["user"]["token"] = KUBE_TOKEN  # sent on every request; the client cert authenticates
    path = place["inputs"] / "planted.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def dead_kubeconfig(place: dict[str, Path]) -> Path:
    path = place["inputs"] / "dead.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": KUBE_TOKEN}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
    }))
    return path


@pytest.fixture(scope="module")
def leaky_manifest(place: dict[str, Path]) -> Path:
    from lmeval_setup.sandbox import jobs as J

    path = place["inputs"] / "leaky.yaml"
    path.write_text(yaml.safe_dump(leaky_job("leaky-lint", PROVISION_NS, base_url=J.COMPLETIONS_URL),
                                   sort_keys=False))
    return path


def cli(place: dict[str, Path], *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """One command as a user runs it; fails the test at once if a planted secret is in its output."""
    env = {**os.environ, "TMPDIR": str(place["tmp"]), "HOME": str(place["home"]), "NO_COLOR": "1"}
    env.pop("KUBECONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=place["cwd"], env=env)
    assert_no_secret(proc.stdout + proc.stderr, " ".join(map(str, args)))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def assert_no_secret(text: str, where: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{where}: leaked {leaked}\n{text[:3000]}"


def test_doctor_every_format_and_collect(box: Any, place: dict[str, Path], planted_kubeconfig: Path) -> None:
    for fmt in ("text", "json", "yaml", "junit", "sarif"):
        proc = cli(place, "doctor", "--kubeconfig", planted_kubeconfig, "-n", NS, "-o", fmt)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "LME002" in proc.stdout, proc.stdout  # the failing job was diagnosed, from its log too
        assert "LME018" in proc.stdout and "placeholder '<redacted>'" not in proc.stdout, proc.stdout
    collected = place["outputs"] / "collected"
    proc = cli(place, "doctor", "--kubeconfig", planted_kubeconfig, "-A", "-o", "json", "--collect", collected)
    assert proc.returncode == 1, proc.stderr
    logs = "".join(p.read_text() for p in collected.rglob("*.log"))
    assert "Bearer <redacted>" in logs, "the job's log was collected, its secret masked"
    for path in [collected, *collected.rglob("*")]:  # private: what was collected is the cluster's business
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not path.is_symlink() and mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    # an offline run over the collected directory sees what the live one saw, and leaks nothing either
    proc = cli(place, "doctor", "--from-dir", collected, "-n", NS, "-o", "text")
    assert proc.returncode == 1 and "LME002" in proc.stdout


def test_lint_every_format_offline_and_with_the_cluster(box: Any, place: dict[str, Path], planted_kubeconfig: Path,
                                                       leaky_manifest: Path) -> None:
    for fmt in ("text", "json", "sarif", "junit"):
        proc = cli(place, "lint", leaky_manifest, "-o", fmt)
        assert proc.returncode == 1 and "LME018" in proc.stdout, proc.stdout + proc.stderr
    proc = cli(place, "lint", leaky_manifest, "--cluster", "--kubeconfig", planted_kubeconfig, "-o", "json")
    assert proc.returncode == 1 and "LME018" in proc.stdout, proc.stderr
    # from stdin, with the secret on the command's input only
    env = {**os.environ, "TMPDIR": str(place["tmp"]), "HOME": str(place["home"])}
    proc = subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", "lint", "-"],
                          input=leaky_manifest.read_text(), capture_output=True, text=True, cwd=place["cwd"],
                          env=env, timeout=60)
    assert proc.returncode == 1
    assert_no_secret(proc.stdout + proc.stderr, "lint -")


def test_failing_bootstrap_against_an_unreachable_server(place: dict[str, Path], dead_kubeconfig: Path) -> None:
    for fmt in ("text", "json"):
        proc = cli(place, "bootstrap", "--kubeconfig", dead_kubeconfig, "-o", fmt, "--diff")
        assert proc.returncode == 3, proc.stdout + proc.stderr
    proc = cli(place, "revert", "--kubeconfig", dead_kubeconfig)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for command in (("doctor",), ("results",), ("provision", "-n", "x", "--teardown")):
        proc = cli(place, *command, "--kubeconfig", dead_kubeconfig)
        assert proc.returncode == 3, proc.stderr


def test_verbose_revert_shows_ansible_output_and_no_token(place: dict[str, Path], dead_kubeconfig: Path) -> None:
    """-vv is ansible-playbook's -vv: its banners, task paths and the failed task's result reach stderr (cli()
    fails on a planted secret); stdout is the same report; -q leaves the error line alone."""
    plain = cli(place, "revert", "--kubeconfig", dead_kubeconfig)
    verbose = cli(place, "revert", "--kubeconfig", dead_kubeconfig, "-vv")
    quiet = cli(place, "revert", "--kubeconfig", dead_kubeconfig, "-q")
    assert plain.returncode == verbose.returncode == quiet.returncode == 3, verbose.stderr
    assert verbose.stdout == plain.stdout == quiet.stdout
    for marker in ("ansible-playbook [core", "TASK [lmeval.setup.bootstrap : Revert", "task path: ",
                   'fatal: [cluster]: FAILED! => {"changed": false'):
        assert marker in verbose.stderr and marker not in plain.stderr, (marker, verbose.stderr)
    assert [line for line in quiet.stderr.splitlines() if line] == \
        ["error: cluster: cannot reach the cluster at https://127.0.0.1:1: connection refused"]


def test_a_rejected_token_is_not_echoed(box: Any, place: dict[str, Path], planted_kubeconfig: Path,
                                        leaky_manifest: Path) -> None:
    """The token alone: the apiserver answers 401, and the error says so without repeating it."""
    config = yaml.safe_load(planted_kubeconfig.read_text())
    config["users"][0]["user"] = {"token": KUBE_TOKEN}
    rejected = place["inputs"] / "rejected.kubeconfig"
    rejected.write_text(yaml.safe_dump(config))
    for command in (("doctor", "-o", "json"), ("lint", "--cluster", leaky_manifest), ("results",),
                    ("provision", "-n", "x", "--teardown"), ("bootstrap", "-o", "json")):
        proc = cli(place, *command, "--kubeconfig", rejected)
        assert proc.returncode == 3 and "unauthorised" in proc.stderr, proc.stdout + proc.stderr


def test_provision_render_and_a_failing_run(box: Any, place: dict[str, Path], planted_kubeconfig: Path,
                                            leaky_manifest: Path) -> None:
    # Inline credentials stop --render and a run at lint (exit 1), findings redacted.
    proc = cli(place, "provision", "-n", PROVISION_NS, "--from-file", leaky_manifest, "--render")
    assert proc.returncode == 1 and "LME018" in proc.stderr, proc.stdout + proc.stderr
    proc = cli(place, "provision", "-n", PROVISION_NS, "--from-file", leaky_manifest,
               "--kubeconfig", planted_kubeconfig)
    assert proc.returncode == 1 and "LME018" in proc.stdout, proc.stdout + proc.stderr
    # Told to ignore them, the job runs, fails (wrong base_url), and the doctor's findings are printed.
    from lmeval_setup.sandbox import jobs as J

    junit = place["outputs"] / "gates.xml"
    proc = cli(place, "provision", "-n", PROVISION_NS, "--from-file", leaky_manifest, "--base-url",
               f"{J.ENDPOINT}/v1", "--ignore", "LME018", "--ignore", "LME002", "--wait", "--timeout", "180",
               "--gate", "arc_easy:acc_norm>=0.1", "--junit", junit, "--teardown",
               "--kubeconfig", planted_kubeconfig)
    assert proc.returncode == 1 and "LME002" in proc.stdout, proc.stdout + proc.stderr


def test_results_every_format(box: Any, place: dict[str, Path], planted_kubeconfig: Path) -> None:
    for fmt in ("table", "markdown", "json", "csv"):
        proc = cli(place, "results", "--kubeconfig", planted_kubeconfig, "-n", NS, "-o", fmt)
        assert proc.returncode == 0 and GOOD_JOB in proc.stdout, proc.stdout + proc.stderr
    plot = place["outputs"] / "plot.svg"
    proc = cli(place, "results", "--kubeconfig", planted_kubeconfig, "-n", NS, GOOD_JOB, "--plot", plot)
    assert proc.returncode == 0, proc.stderr


def test_sandbox_status_and_env(box: Any, place: dict[str, Path], planted_kubeconfig: Path) -> None:
    state = place["outputs"] / "sandbox-state"
    (state / "controlplane").mkdir(parents=True)
    (state / "sandbox.json").write_text(json.dumps({"profile": PROFILE, "scenario": "bootstrapped"}))
    (state / "controlplane" / "kubeconfig").write_text(planted_kubeconfig.read_text())
    proc = cli(place, "sandbox", "status", "--state-dir", state)
    assert proc.returncode == 0 and "trustyai Managed" in proc.stdout, proc.stdout + proc.stderr
    proc = cli(place, "sandbox", "env", "--state-dir", state)
    assert proc.returncode == 0 and "export KUBECONFIG=" in proc.stdout
    (state / "controlplane" / "kubeconfig").unlink()  # the planted copy is ours: leave only outputs


def test_bootstrap_and_revert_text_and_json(box: Any, place: dict[str, Path], planted_kubeconfig: Path) -> None:
    """Runs after the tests that need the bootstrapped state: the real revert ends it."""
    proc = cli(place, "bootstrap", "--kubeconfig", planted_kubeconfig, "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = cli(place, "bootstrap", "--kubeconfig", planted_kubeconfig, "-o", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "successful", proc.stderr
    proc = cli(place, "revert", "--kubeconfig", planted_kubeconfig, "--dry-run", "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = cli(place, "revert", "--kubeconfig", planted_kubeconfig)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nothing_left_on_disk(place: dict[str, Path]) -> None:
    """Runs last: no temporary leftovers, and no secret in any file a command wrote."""
    assert sorted(p.name for p in place["tmp"].iterdir()) == []
    assert sorted(str(p.relative_to(place["cwd"])) for p in place["cwd"].rglob("*")) == []
    written = [p for d in ("home", "outputs") for p in place[d].rglob("*") if p.is_file()]
    for path in written:
        assert_no_secret(path.read_bytes().decode("utf-8", errors="replace"), str(path))
