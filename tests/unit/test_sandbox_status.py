"""`sandbox status` rows: real vs simulated components, PIDs, ports; the runner's component report."""

from __future__ import annotations

import threading
from typing import Any

from lmeval_setup.sandbox import runner
from lmeval_setup.sandbox.status import format_uptime, real_rows, simulated_rows


def alive_only(*pids: int) -> Any:
    return lambda pid: pid in pids


def test_real_rows_carry_pid_port_and_liveness() -> None:
    rows = real_rows({"etcd": 11, "kube-apiserver": 12, "kube-controller-manager": 13},
                     {"etcd": 2379, "kube-apiserver": 6443, "kube-controller-manager": 10257},
                     alive_only(11, 12), "v1.36.3")
    by_name = {r.component: r for r in rows}
    assert [r.component for r in rows] == ["etcd", "kube-apiserver", "kube-controller-manager"]
    assert all(r.mode == "real" for r in rows)
    assert by_name["etcd"].port == 2379 and "client-certificate TLS" in by_name["etcd"].detail
    assert by_name["kube-apiserver"].line().split()[:5] == ["kube-apiserver", "real", "running", "12", "6443"]
    assert by_name["kube-controller-manager"].state == "NOT running"


def test_simulated_rows_say_simulated_until_a_component_reports_itself_real() -> None:
    state = {"components": {
        "platform-operator": {"mode": "simulated", "running": True, "pid": 50},
        "kubelet": {"mode": "simulated", "running": True, "pid": 50, "port": 40123},
        "trustyai-operator": {"mode": "real", "running": True, "pid": 77, "commit": "1a2b3c4"},
    }}
    rows = {r.component: r for r in simulated_rows(50, state, alive_only(50))}
    assert rows["simulator runner"].pid == 50 and rows["simulator runner"].state == "running"
    assert rows["kubelet"].port == 40123 and rows["kubelet"].mode == "simulated"
    assert rows["trustyai-operator"].mode == "real" and "commit 1a2b3c4" in rows["trustyai-operator"].detail
    assert rows["trustyai-operator"].pid == 77
    assert rows["lm-eval"].mode == "simulated" and "no lm-eval process" in rows["lm-eval"].detail
    real_lm_eval = {"components": {**state["components"], "lm-eval": {"mode": "real", "version": "0.4.8"}}}
    rows = {r.component: r for r in simulated_rows(50, real_lm_eval, alive_only(50))}
    assert rows["lm-eval"].mode == "real" and rows["lm-eval"].detail == "version 0.4.8"
    assert rows["lm-eval"].state == "per job"


def test_a_dead_runner_makes_every_simulated_component_not_running() -> None:
    state = {"components": {"kubelet": {"mode": "simulated", "running": True}}}
    rows = {r.component: r for r in simulated_rows(50, state, alive_only())}
    assert rows["simulator runner"].state == "NOT running" and rows["kubelet"].state == "NOT running"
    assert rows["platform-operator"].state == "NOT running"  # not reported at all


def test_uptime_format() -> None:
    assert format_uptime(5) == "0m05s"
    assert format_uptime(3725) == "1h02m05s"
    assert format_uptime(2 * 86400 + 3600 * 3 + 60 * 4) == "2d03h04m"


class _Real:
    port = 4242

    def describe(self) -> dict[str, dict[str, Any]]:
        return {"trustyai-operator": {"mode": "real", "commit": "abc"}, "lm-eval": {"mode": "real", "version": "1"}}


class _Broken:
    def describe(self) -> dict[str, Any]:
        raise RuntimeError("boom")


def _sim(name: str, instance: Any) -> runner.RunningSimulator:
    thread = threading.Thread(target=lambda: None)
    return runner.RunningSimulator(name, instance, thread=thread, stop=threading.Event())


def test_component_report_merges_what_simulators_describe() -> None:
    report = runner.component_report([_sim("trustyai-operator", _Real()), _sim("kubelet", _Broken())])
    assert report["trustyai-operator"]["mode"] == "real" and report["trustyai-operator"]["commit"] == "abc"
    # The real program is not the runner: neither the runner's pid nor the simulator's port is its own.
    assert "pid" not in report["trustyai-operator"] and "port" not in report["trustyai-operator"]
    assert report["lm-eval"] == {"running": False, "mode": "real", "version": "1"}
    assert report["kubelet"]["mode"] == "simulated"  # a describe() that fails leaves the default


def test_venv_package_version_reads_the_dist_info(tmp_path) -> None:
    from lmeval_setup.sandbox.status import venv_package_version

    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "lm_eval-0.4.12.dist-info").mkdir(parents=True)
    (site / "lm_eval-0.4.12.dist-info" / "METADATA").write_text("Name: lm_eval\nVersion: 0.4.12\n")
    python = tmp_path / "venv" / "bin" / "python"
    assert venv_package_version(python, "lm-eval") == "0.4.12"
    assert venv_package_version(python, "torch") is None


def test_the_real_operator_reports_which_lm_eval_its_jobs_run(monkeypatch, tmp_path) -> None:
    from lmeval_setup.sandbox import realoperator, trustyai_operator

    monkeypatch.setattr(realoperator, "job_venv_python", lambda: None)
    assert trustyai_operator._lm_eval_description()["mode"] == "none"  # a python without lm-eval, no replay
    site = tmp_path / "lib" / "python3.11" / "site-packages" / "lm_eval-0.4.12.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Name: lm_eval\nVersion: 0.4.12\n")
    monkeypatch.setattr(realoperator, "job_venv_python", lambda: tmp_path / "bin" / "python")
    assert trustyai_operator._lm_eval_description() | {"detail": ""} == {"mode": "real", "version": "0.4.12",
                                                                         "detail": ""}
