#!/usr/bin/env bash
# `make test` after its prerequisites: ruff first (a second; a lint error fails before anything long starts),
# then ansible-lint and ansible-test sanity beside pytest rather than before it. pytest keeps two cores ~75%
# busy (its workers wait on apiservers, Ansible and lm-eval), and the two Ansible linters (~30 s of wall
# time before pytest in a fresh clone) fit in what it leaves. Their output is printed after pytest's, whole;
# the run fails if any of the three failed. Ctrl-C reaches all of them (one foreground process group).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

"$BIN/ruff" check . || exit

logs=$(mktemp -d "${TMPDIR:-/tmp}/lmeval-test-lint.XXXXXX")
trap 'rm -rf "$logs"' EXIT
declare -A pids
start() {  # start NAME COMMAND...: in the background, output to $logs/NAME.log
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids[$name]=$!
}
# The Makefile's own targets (their venv prerequisite is already met): one command line for each linter.
start ansible-lint make --no-print-directory ansible-lint
start ansible-sanity make --no-print-directory ansible-sanity

LMEVAL_REQUIRE_CONTROLPLANE=1 "$BIN/python" -m pytest -n 3 --dist loadfile --no-loadscope-reorder -m "not slow"
status=$?

for name in ansible-lint ansible-sanity; do
  wait "${pids[$name]}"
  rc=$?
  echo "== $name (run beside pytest): exit $rc"
  cat "$logs/$name.log"
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$rc
  fi
done
exit "$status"
