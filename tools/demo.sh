#!/usr/bin/env bash
# `make demo`: the main job, end to end, on the local sandbox (a real kube-apiserver with simulated
# OpenShift AI operators): fresh cluster -> doctor -> bootstrap (dry run, real, no-op) -> lint and
# run jobs -> doctor explains the failures -> doctor --fix corrects them -> revert. Tears the sandbox
# down at the end unless LMEVAL_DEMO_KEEP=1. LMEVAL_DEMO_PROFILE picks the release (default rhoai-2.22,
# the release line where the seed's manual procedure is the most trap-filled).
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

step "6. lint the jobs before applying them (two of the seed's mistakes, one good job; expect exit 1)"
expect 1 "$CLI" lint examples/jobs

step "7. apply them anyway and let the (simulated) TrustyAI operator run them"
"$KUBECTL" create namespace "$NS" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
"$KUBECTL" apply -f examples/jobs
for job in granite-arc-easy granite-base-url granite-chat-arc; do
  "$KUBECTL" wait -n "$NS" "lmevaljob/$job" --for=jsonpath='{.status.state}'=Complete --timeout=180s >/dev/null
done
"$KUBECTL" get lmevaljobs -n "$NS" -o custom-columns=NAME:.metadata.name,STATE:.status.state,REASON:.status.reason,MESSAGE:.status.message

step "8. doctor: why did they fail? (rule, evidence from the pod log, fix; expect exit 1)"
expect 1 "$CLI" doctor -n "$NS"

step "9. results of the good job"
"$CLI" results -n "$NS" granite-arc-easy

step "10. doctor --fix: the plan (a dry run: a diff per job, every value with where it came from; nothing written)"
"$CLI" doctor -n "$NS" --fix

step "11. doctor --fix --yes --wait: corrected jobs <name>-fix, followed to completion, a verdict per finding"
"$CLI" doctor -n "$NS" --fix --yes --wait

step "12. doctor on the corrected jobs: nothing to report"
"$CLI" doctor -n "$NS" --job granite-base-url-fix,granite-chat-arc-fix

step "13. revert: put back exactly what bootstrap changed"
"$KUBECTL" delete -n "$NS" lmevaljobs --all --wait=true >/dev/null
"$CLI" revert
"$KUBECTL" get dsc -o jsonpath='{.items[0].spec.components.trustyai.managementState}{"\n"}'

step "done"
