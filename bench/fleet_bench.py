"""Fleet: one `lmeval-setup bootstrap --inventory` over 1, 3 and 6 sandbox clusters (issue 8, figure 5).

Each cluster is its own sandbox (etcd + kube-apiserver + kube-controller-manager + the simulators'
process), started with `lmeval-setup sandbox up` in scenario `fresh`, each a different release. One
inventory lists them all; each measurement bootstraps the first N with `--limit` (the runner's forks,
10, run them in parallel) and is then undone with `lmeval-setup revert` (not timed), so every sample
starts from TrustyAI Removed. Reported: wall time per N and its ratio to N=1, the sandboxes' resident
memory, and the peak during the 6-cluster run. The first cluster is the heaviest kind of bootstrap
(2.22: ConfigMap + operator restart), so N=1 is not flattered by an easy release.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import median, ratio
from bench.sandbox_support import group_pids, rss_mib

PROFILES = ("rhoai-2.22", "rhoai-2.25", "rhoai-3.5", "rhoai-2.16", "rhoai-3.0", "odh-2.35")
SIZES = (1, 3, 6)
REPEATS = 2
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
UP_TIMEOUT = 240


def host(profile: str) -> str:
    return "c-" + profile.replace(".", "-")


def inventory(states: dict[str, Path]) -> str:
    lines = ["all:", "  vars:", "    ansible_connection: local", "  hosts:"]
    for profile, state in states.items():
        lines += [f"    {host(profile)}:", f"      lmeval_kubeconfig: {state / 'controlplane' / 'kubeconfig'}"]
    return "\n".join(lines) + "\n"


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=timeout)


def sandbox_up(profile: str, state: Path) -> str | None:
    """None when up, else why not (the last line of its error)."""
    done = cli("sandbox", "up", "--profile", profile, "--scenario", "fresh", "--state-dir", str(state),
               "--timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 60)
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def sandbox_pgids(state: Path) -> list[int]:
    pgids = []
    with_runner = json.loads((state / "sandbox.json").read_text()).get("runner_pgid")
    if with_runner:
        pgids.append(int(with_runner))
    plane = state / "controlplane" / "controlplane.json"
    if plane.exists():
        pgids += [int(p) for p in json.loads(plane.read_text())["pgids"].values()]
    return pgids


class PeakRss:
    """Samples the sandboxes' resident memory every half second while a run is going on."""

    def __init__(self, pgids: list[int]) -> None:
        self.pgids, self.peak = pgids, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_mib(group_pids(self.pgids)))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def limit(profiles: tuple[str, ...]) -> str:
    return ",".join(host(p) for p in profiles)


def bootstrap_fleet(inv: Path, profiles: tuple[str, ...]) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    done = cli("bootstrap", "--inventory", str(inv), "--limit", limit(profiles), "-o", "json")
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"fleet bootstrap of {len(profiles)} failed ({done.returncode}): "
                           f"{done.stderr.strip()[-400:]}")
    return elapsed, json.loads(done.stdout)


def revert_fleet(inv: Path, profiles: tuple[str, ...]) -> str | None:
    """Undo the run so the next one starts from TrustyAI Removed; None, or why revert failed (twice).

    A failed revert is a finding to report, not a reason to lose the other figures: the next sample then
    starts from a partly reverted cluster, which the report says.
    """
    why = None
    for _ in range(2):
        done = cli("revert", "--inventory", str(inv), "--limit", limit(profiles))
        if done.returncode == 0:
            return None
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        time.sleep(3)
    return why


def measure(sizes: tuple[int, ...] = SIZES, repeats: int = REPEATS) -> dict[str, Any]:
    results: dict[str, Any] = {"samples": {}, "up": {}, "errors": [], "restarted": {}}
    with tempfile.TemporaryDirectory(prefix="lmeval-fleet-bench-") as tmp:
        work = Path(tmp)
        states = {p: work / host(p) for p in PROFILES[: max(sizes)]}
        try:
            for profile, state in states.items():
                began = time.perf_counter()
                why = sandbox_up(profile, state)
                if why is not None:
                    results["errors"].append(f"sandbox {profile} did not come up: {why}")
                    break
                results["up"][profile] = time.perf_counter() - began
            up = tuple(p for p in PROFILES if p in results["up"])
            pgids = [g for p in up for g in sandbox_pgids(states[p])]
            results["idle_rss_mib"] = rss_mib(group_pids(pgids))
            inv = work / "fleet.yml"
            inv.write_text(inventory({p: states[p] for p in up}))
            for n in sizes:
                if n > len(up):
                    results["errors"].append(f"{n} clusters not measured: only {len(up)} sandboxes came up")
                    continue
                chosen = up[:n]
                for _ in range(repeats):
                    with PeakRss(pgids) as peak:
                        elapsed, report = bootstrap_fleet(inv, chosen)
                    results["samples"].setdefault(n, []).append(elapsed)
                    results.setdefault("peak_rss_mib", {})[n] = max(peak.peak, results.get("peak_rss_mib", {})
                                                                    .get(n, 0.0))
                    results["restarted"][n] = sum(bool(c.get("operator_restarted"))
                                                  for c in report["clusters"].values())
                    why = revert_fleet(inv, chosen)
                    if why is not None:
                        results["errors"].append(f"revert after the {n}-cluster run failed twice ({why}); "
                                                 "the next sample started from a partly reverted cluster")
        finally:
            for state in states.values():
                if state.exists():
                    cli("sandbox", "down", "--state-dir", str(state), timeout=120)
    return results


def run(sizes: tuple[int, ...] = SIZES, repeats: int = REPEATS) -> dict[str, Any]:
    r = measure(sizes, repeats)
    samples: dict[int, list[float]] = r["samples"]
    if 1 not in samples:
        raise RuntimeError("; ".join(r["errors"]) or "no fleet run completed")
    one = median(samples[1])
    rows = []
    for n in sorted(samples):
        t = median(samples[n])
        rows.append({"figure": f"bootstrap {n} cluster{'s' if n > 1 else ''} (one run, forks)", "value_s": t,
                     "ratio": ratio(t, one), "target": f"report (ideal 1.00x, serial {n}.00x)" if n > 1 else "",
                     "note": f"{r['restarted'].get(n, 0)} operator restarts"})
    for n in sorted(samples):
        rows.append({"figure": f"per cluster at {n}", "value_s": median(samples[n]) / n})
    rows.append({"figure": f"sandboxes' resident memory, idle ({len(r['up'])} up)",
                 "value": round(r["idle_rss_mib"]), "unit": "MiB"})
    for n, peak in sorted(r.get("peak_rss_mib", {}).items()):
        rows.append({"figure": f"sandboxes' peak resident memory during the {n}-cluster run", "value": round(peak),
                     "unit": "MiB"})
    notes = [
        f"clusters in order: {', '.join(PROFILES[:max(samples)])}; N takes the first N; median of {repeats} "
        "runs each, every run from TrustyAI Removed (reverted in between, not timed)",
        "sandbox start-up (not part of the figure): "
        + ", ".join(f"{p} {s:.1f} s" for p, s in r["up"].items()),
        "resident memory: etcd, kube-apiserver, kube-controller-manager and the simulators' process of every "
        f"sandbox (the CLI and Ansible forks not included); {os.cpu_count()} cores shared by all of them",
        *r["errors"],
    ]
    return {"name": "Fleet bootstrap", "rows": rows, "notes": notes}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
