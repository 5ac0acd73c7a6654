#!/usr/bin/env bash
# `make demo`: the main job, end to end, on the local sandbox (a real kube-apiserver with simulated
# OpenShift AI operators): fresh cluster -> doctor -> bootstrap (dry run, real, no-op) -> lint -> the
# sandbox's own broken-jobs seed (five jobs, one per common mistake, and a good one) runs -> doctor explains
# the five failures -> ONE `doctor --fix --yes --wait` turns them into five succeeded jobs (printed before
# and after) -> revert. Tears the sandbox down at the end unless LMEVAL_DEMO_KEEP=1. LMEVAL_DEMO_PROFILE
# picks the release (default rhoai-2.22, the release line where the seed's manual procedure is the most
# trap-filled).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
CLI="$BIN/lmeval-setup"
PROFILE=${LMEVAL_DEMO_PROFILE:-rhoai-2.22}
NAME=demo
NS=private-ai-demo
KUBECTL=$("$BIN/python" -c 'from lmeval_setup.sandbox.controlplane import kubectl_path; print(kubectl_path())')

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Run a command that is expected to exit with a given code (the doctor exits 1 when it finds problems).
expect() {
  local want=$1; shift
  local rc=0
  "$@" || rc=$?
  if [ "$rc" != "$want" ]; then echo "demo: expected exit $want from: $*, got $rc" >&2; exit 1; fi
}

# Each seed job's state and reason, and beside it its corrected job's (labelled lmeval-setup.io/fixes=<job>).
# `before_after before` also checks the promise's starting point (every seed mistake failed, the good job
# succeeded), `before_after after` its end (every corrected job succeeded): the demo stops if either is not so.
before_after() {
  "$BIN/python" - "$NS" "$1" <<'PY'
import sys
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.fix.engine import FIX_LABEL
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox.jobs import SEED_JOBS

jobs = Kube.connect().list_items(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", sys.argv[1]))
by_name = {j["metadata"]["name"]: j for j in jobs}
fixes = {(j["metadata"].get("labels") or {}).get(FIX_LABEL): j for j in by_name.values()}


def state(job):
    status = (job or {}).get("status") or {}
    return f"{status.get('state', '-')}/{status.get('reason', '-')}" if job else "-"


print(f"{'SEED JOB':30} {'RULE':7} {'BEFORE':19} {'CORRECTED JOB':34} AFTER")
for seed in SEED_JOBS:
    fix = fixes.get(seed.name)
    print(f"{seed.name:30} {seed.expected_rule or '-':7} {state(by_name.get(seed.name)):19} "
          f"{(fix or {}).get('metadata', {}).get('name', '-'):34} {state(fix)}")
broken = [seed for seed in SEED_JOBS if not seed.should_succeed]
if sys.argv[2] == "before":
    wrong = [s.name for s in SEED_JOBS if state(by_name.get(s.name)).endswith("/Succeeded") != s.should_succeed]
else:
    wrong = [s.name for s in broken if not state(fixes.get(s.name)).endswith("/Succeeded")]
if wrong:
    sys.exit(f"demo: not as promised {sys.argv[2]} the fix: {', '.join(wrong)}")
print(f"{sys.argv[2]} the fix: {sum(not state(by_name.get(s.name)).endswith('/Succeeded') for s in broken)}"
      f"/{len(broken)} seed jobs failed" if sys.argv[2] == "before" else
      f"after the fix: {sum(state(fixes.get(s.name)).endswith('/Succeeded') for s in broken)}/{len(broken)}"
      " corrected jobs succeeded")
PY
}

cleanup() {
  if [ "${LMEVAL_DEMO_KEEP:-0}" = 1 ]; then
    echo; echo "sandbox '$NAME' left running: eval \"\$($CLI sandbox env --name $NAME)\"; stop it with: $CLI sandbox down --name $NAME"
  else
    "$CLI" sandbox down --name "$NAME" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

step "1. A fresh $PROFILE sandbox: TrustyAI Removed, nothing allowed"
"$CLI" sandbox up --name "$NAME" --profile "$PROFILE" --scenario fresh
eval "$("$CLI" sandbox env --name "$NAME")"
"$KUBECTL" get dsc

step "2. doctor before anything is set up (expect findings, exit 1)"
expect 1 "$CLI" doctor -A

step "3. bootstrap --dry-run --diff: what would change (server-side dry run, nothing written)"
"$CLI" bootstrap --dry-run --diff

step "4. bootstrap: enable TrustyAI, permit online access and code execution, restart only if needed"
"$CLI" bootstrap

step "5. bootstrap again: nothing to do, nothing restarted"
"$CLI" bootstrap

step "6. lint the example jobs before applying them (two of the seed's mistakes as files, one good job; expect exit 1)"
expect 1 "$CLI" lint examples/jobs

step "7. the sandbox's broken-jobs seed: one LMEvalJob per common mistake and a good one, run by the (simulated) operator"
# The same objects as `sandbox up --scenario broken-jobs` creates (the InferenceService granite and the jobs
# of lmeval_setup/sandbox/jobs.py), created now that bootstrap has enabled TrustyAI, as a user would.
"$BIN/python" -c 'import sys
from lmeval_setup.kube.client import Kube
from lmeval_setup.sandbox.profiles import get_profile
from lmeval_setup.sandbox.scenarios import create_seed_jobs
create_seed_jobs(Kube.connect(), get_profile(sys.argv[1]))' "$PROFILE"
SEED_JOBS=$("$BIN/python" -c 'from lmeval_setup.sandbox.jobs import SEED_JOBS; print(" ".join(j.name for j in SEED_JOBS))')
for job in $SEED_JOBS; do
  "$KUBECTL" wait -n "$NS" "lmevaljob/$job" --for=jsonpath='{.status.state}'=Complete --timeout=300s >/dev/null
done
before_after before

step "8. doctor: why did they fail? (rule, evidence from the pod log, fix; expect exit 1)"
expect 1 "$CLI" doctor -n "$NS"

step "9. results of the good job"
"$CLI" results -n "$NS" eval-good

step "10. doctor --fix: the plan (a dry run: a diff per job, every value with where it came from; nothing written)"
"$CLI" doctor -n "$NS" --fix

step "11. doctor --fix --yes --wait: ONE command; corrected jobs <name>-fix, followed to completion, a verdict per finding"
"$CLI" doctor -n "$NS" --fix --yes --wait

step "12. before and after: each failed seed job and the corrected job that replaced it"
before_after after

step "13. doctor on the corrected jobs: nothing to report"
FIXED=$("$BIN/python" -c 'from lmeval_setup.sandbox.jobs import SEED_JOBS; print(",".join(j.name + "-fix" for j in SEED_JOBS if not j.should_succeed))')
"$CLI" doctor -n "$NS" --job "$FIXED"

step "14. revert: put back exactly what bootstrap changed"
"$KUBECTL" delete -n "$NS" lmevaljobs --all --wait=true >/dev/null
"$CLI" revert
"$KUBECTL" get dsc -o jsonpath='{.items[0].spec.components.trustyai.managementState}{"\n"}'

step "done"
