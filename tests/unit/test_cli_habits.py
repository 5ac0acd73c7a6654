"""kubectl habits (issue 20 item 3): -o yaml beside -o json, -q/-v on every command, doctor --job NAME...,
one -n/-A wording. No cluster: the doctor reads a --collect directory, results and provision only parse."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import yaml
from doctor_support import OFFLINE_LOG_TEXT, add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.cli.main import COMMANDS, cli, main
from lmeval_setup.doctor.writer import write_dir


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


@pytest.fixture
def two_jobs(tmp_path: Path) -> Path:
    """demo/evaljob failed offline, demo/second failed offline, other/third too: a --collect directory."""
    snap = cluster_snapshot("rhoai-2.25")
    failed = {"state": "Complete", "reason": "Failed", "message": "exit status 1"}
    for name, ns in (("evaljob", "demo"), ("second", "demo"), ("third", "other")):
        add_job(snap, with_status(lmevaljob(name, ns), **failed), pod(name, ns), OFFLINE_LOG_TEXT)
    return write_dir(snap, tmp_path / "collected")


def job_names(report: dict) -> set[str]:  # type: ignore[type-arg]
    return {f["target"]["name"] for f in report["findings"] if f["target"]["kind"] == "LMEvalJob"}


def test_doctor_job_takes_several_names(two_jobs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["doctor", "--from-dir", str(two_jobs), "-n", "demo", "-o", "json"]
    code, out, _ = run([*base, "--job", "evaljob", "--job", "second"], capsys)
    assert code == 1 and job_names(json.loads(out)) == {"evaljob", "second"}
    assert job_names(json.loads(run([*base, "--job", "evaljob,second"], capsys)[1])) == {"evaljob", "second"}
    assert job_names(json.loads(run([*base, "--job", "second"], capsys)[1])) == {"second"}


def test_doctor_unknown_job_is_one_line_and_exit_2(two_jobs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["doctor", "--from-dir", str(two_jobs), "-n", "demo", "--job", "evaljob",
                          "--job", "nope"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["error: job nope not found in demo"]
    code, _, err = run(["doctor", "--from-dir", str(two_jobs), "-A", "--job", "third", "--job", "x,y"], capsys)
    assert code == 2 and err.strip() == "error: jobs x, y not found in any namespace"
    # A job in another namespace is not in this one.
    assert run(["doctor", "--from-dir", str(two_jobs), "-n", "demo", "--job", "third"], capsys)[0] == 2


def test_doctor_yaml_is_the_json_document(two_jobs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["doctor", "--from-dir", str(two_jobs), "-A"]
    as_json = json.loads(run([*base, "-o", "json"], capsys)[1])
    assert yaml.safe_load(run([*base, "-o", "yaml"], capsys)[1]) == as_json


def test_lint_yaml_is_the_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(lmevaljob()))
    as_json = json.loads(run(["lint", str(job), "-o", "json"], capsys)[1])
    assert as_json["findings"] and yaml.safe_load(run(["lint", str(job), "-o", "yaml"], capsys)[1]) == as_json


def test_quiet_drops_notes_verbose_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = cluster_snapshot("rhoai-2.25")
    out_dir = write_dir(empty, tmp_path / "empty")
    code, out, err = run(["doctor", "--from-dir", str(out_dir)], capsys)
    assert code == 0 and "note: nothing to check" in err
    code, quiet_out, err = run(["doctor", "--from-dir", str(out_dir), "-q"], capsys)
    assert code == 0 and err == "" and quiet_out == out
    assert run(["doctor", "--from-dir", str(out_dir), "-v"], capsys)[:2] == (0, out)
    code, _, err = run(["doctor", "--from-dir", str(out_dir), "-q", "-v"], capsys)
    assert code == 2 and "exclude each other" in err


def test_quiet_lasts_one_invocation_without_main(tmp_path: Path) -> None:
    """-q applies to the invocation that says it. Before: only main() reset the level, so a command invoked
    directly (CliRunner, the command used as a library) after a -q one stayed quiet; seen in a fresh-clone run,
    where test_selectors lost lint's "no LMEvalJob documents found" note to an earlier test's -q."""
    from click.testing import CliRunner

    from lmeval_setup.cli.lint import lint
    from lmeval_setup.cli.verbosity import NORMAL, level

    empty = tmp_path / "empty.yaml"
    empty.write_text("kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n")
    runner = CliRunner()
    quiet = runner.invoke(cli, ["lint", str(empty), "-q"])
    assert quiet.exit_code == 0 and "note:" not in quiet.output, quiet.output
    assert level() == NORMAL, "the -q ended with its invocation"
    for again in (runner.invoke(cli, ["lint", str(empty)]), runner.invoke(lint, [str(empty)])):
        assert "note: no LMEvalJob documents found" in again.output, again.output
    assert level() == NORMAL
    assert runner.invoke(cli, ["lint", str(empty), "-q", "-v"]).exit_code == 2
    assert runner.invoke(cli, ["lint", str(empty), "-v", "-q"]).exit_code == 2
    assert "note: no LMEvalJob documents found" in runner.invoke(cli, ["lint", str(empty), "-v"]).output


def _leaf_commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    out: dict[str, click.Command] = {}
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            out.update({f"{name} {sub}": c for sub, c in command.commands.items()})
        else:
            out[name] = command
    return out


def _options(command: click.Command) -> dict[str, click.Option]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


def test_every_command_has_quiet_and_verbose() -> None:
    for name, command in _leaf_commands().items():
        opts = _options(command)
        assert {"-q", "--quiet", "-v", "--verbose"} <= set(opts), name


def test_yaml_wherever_json() -> None:
    for name, command in _leaf_commands().items():
        output = _options(command).get("--output")
        if output is not None and "json" in output.type.choices:  # type: ignore[attr-defined]
            assert "yaml" in output.type.choices, name  # type: ignore[attr-defined]


def test_namespace_flags_are_the_same_on_doctor_results_provision() -> None:
    commands = _leaf_commands()
    for name in ("doctor", "results", "provision"):
        opts = _options(commands[name])
        assert opts["-n"] is opts["--namespace"] and opts["-A"] is opts["--all-namespaces"], name
        assert not opts["-n"].required, f"{name}: -n defaults to the context's namespace, as kubectl"
    helps = {name: _options(commands[name])["-n"].help or "" for name in ("doctor", "results", "provision")}
    assert all("[default: the context's, else default]" in h for h in helps.values()), helps


def test_lint_json_and_yaml_validate_against_the_shipped_schema(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from schemasupport import validate

    from lmeval_setup.sandbox import jobs

    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump_all([j.manifest for j in jobs.SEED_JOBS]))
    code, out, _ = run(["lint", str(path), "-o", "json"], capsys)
    report = json.loads(out)
    validate(report, "findings")
    assert code == 1 and report["findings"]
    validate(yaml.safe_load(run(["lint", str(path), "-o", "yaml"], capsys)[1]), "findings")


def test_doctor_offline_json_validates(two_jobs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from schemasupport import validate

    validate(json.loads(run(["doctor", "--from-dir", str(two_jobs), "-A", "-o", "json"], capsys)[1]), "findings")


# -- bootstrap's JSON: one type per key, the release line by name (issue 20 item 2) --------------------------
def _bootstrap_result(failed: bool) -> object:
    from lmeval_setup.bootstrap.runner import ClusterResult, RunResult, Step

    steps = [Step("cluster", "detect", status="ok")]
    facts: dict[str, object] | None = None
    if failed:
        steps.append(Step("cluster", "preflight", status="failed", msg="OpenShift AI is not installed",
                          reason="no_openshift_ai"))
    else:
        facts = {"release_line": "rhoai-2.17", "release_version": "2.22.1", "release_name": "OpenShift AI Self-Managed",
                 "permission_layer": "configmap", "trustyai_state": "Managed", "effective_online": True,
                 "effective_code_execution": False}
    cluster = ClusterResult("cluster", steps=steps, facts=facts)
    return RunResult("bootstrap", False, status="failed" if failed else "successful", rc=0,
                     clusters={"cluster": cluster})


@pytest.mark.parametrize("failed", [False, True])
def test_bootstrap_json_has_one_type_per_key(failed: bool) -> None:
    from schemasupport import validate

    from lmeval_setup.cli.bootstrap import as_json, render_structured

    report = as_json(_bootstrap_result(failed))  # type: ignore[arg-type]
    validate(report, "bootstrap")
    cluster = report["clusters"]["cluster"]
    assert isinstance(cluster["errors"], list) and "error" not in cluster
    assert None not in cluster.values()
    if failed:
        assert [e["reason"] for e in cluster["errors"]] == ["no_openshift_ai"] and "release_line" not in cluster
    else:
        assert cluster["errors"] == [] and cluster["release_line"] == "2.17-2.24"
    assert yaml.safe_load(render_structured(_bootstrap_result(failed), "yaml")) == report  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "label"), [
    ("rhoai-2.16", "2.16"), ("rhoai-2.17", "2.17-2.24"), ("rhoai-2.25", "2.25-2.x"), ("rhoai-3.0", "3.0-3.3"),
    ("rhoai-3.5", "3.5+"), ("odh-2.22", "2.22-2.34"), ("nope", None),
])
def test_release_line_labels(key: str, label: str | None) -> None:
    from lmeval_setup.platform.releases import line_label

    assert line_label(key) == label


def test_provision_all_namespaces_only_with_teardown_alone(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["provision", "--model", "m", "--base-url", "http://x:8080/v1/completions", "--tokenizer", "a/b",
            "--tasks", "arc_easy"]
    code, _, err = run([*base, "-A", "--render"], capsys)
    assert code == 2 and "-A/--all-namespaces goes with --teardown alone" in err
    code, _, err = run([*base, "-n", "x", "-A", "--render"], capsys)
    assert code == 2 and "exclude each other" in err
    code, _, err = run([*base, "-n", "x", "--render", "-o", "json"], capsys)
    assert code == 2 and "--render prints the manifests as YAML" in err


def test_provision_namespace_defaults_to_the_contexts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team-a"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    main(["provision", "--model", "m", "--base-url", "http://x:8080/v1/completions", "--tokenizer", "a/b",
          "--tasks", "arc_easy", "--allow-online", "--render"])  # --render returns: no SystemExit
    out = capsys.readouterr().out
    assert {d["metadata"].get("namespace") for d in yaml.safe_load_all(out) if d["kind"] != "Namespace"} == {"team-a"}


def test_lint_color_is_kept_on_a_pipe_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--color` into a pipe (CI logs that render ANSI) keeps the colour render() chose; --no-color has none."""
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(lmevaljob()))
    assert "\x1b[" in run(["lint", str(job), "--color"], capsys)[1]
    assert "\x1b[" not in run(["lint", str(job), "--no-color"], capsys)[1]
