#!/usr/bin/env bash
# Builds the real TrustyAI operator (the manager, cmd/main.go, and the LM-Eval driver, cmd/lmes_driver) of
# every release line the sandbox runs, once, into a cache outside the repository keyed by commit:
#   ${LMEVAL_OPERATOR_DIR:-${XDG_CACHE_HOME:-~/.cache}/lmeval-setup/operator}/<commit>/{manager,driver,src/,LINE}
# src/ keeps the source tree (config/crd/bases holds the line's shipped LMEvalJob CRD). A line already
# built is skipped; LINE is written last, so an interrupted build is redone. Layout and lookup:
# lmeval_setup/sandbox/operator_build.py (whose OPERATOR_LINES a unit test keeps equal to LINES below).
#
# Sources: the RHOAI lines from ../shared/upstream/trustyai-service-operator/<line>.tar.gz (a line whose
# archive is absent is skipped with a message), upstream v1.38.0 from the Go module proxy. Dependencies
# come from the Go module proxy. Each source's commit is checked against the table before building.
#
# Usage: tools/build-operator.sh [LINE...]   (default: every line). Prints the cache root as its last line.
set -euo pipefail

MODULE=github.com/trustyai-explainability/trustyai-service-operator
# name commit source (archive:<file> or proxy:<version>)
LINES=(
  "rhoai-2.16 d028d02248820604ae0bc5396cc1adc783423a42 archive:rhoai-2.16.tar.gz"
  "rhoai-2.22 5ffe8e1f01fbc7c825916e0f2a30272563645e12 archive:rhoai-2.22.tar.gz"
  "rhoai-2.25 04d5c2d47b86369934a7fdecab252fdbd29eed63 archive:rhoai-2.25.tar.gz"
  "rhoai-3.0 b7b8dd9d3c2c6d223ddb38609a225065aa201bfb archive:rhoai-3.0.tar.gz"
  "rhoai-3.3 b9b19931f8a6a928ed81c8879b73a1427809a22c archive:rhoai-3.3.tar.gz"
  "rhoai-3.5 3db6ebb0b637c409bc21d800a548b49428f8cf4a archive:rhoai-3.5.tar.gz"
  "v1.38.0 8b778cd474827e8761013ba15fc0ea54c2916771 proxy:v1.38.0"
)
CRD=config/crd/bases/trustyai.opendatahub.io_lmevaljobs.yaml

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shared=${LMEVAL_SHARED_DIR:-$here/../../shared}
archives=$shared/upstream/trustyai-service-operator
root=${LMEVAL_OPERATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lmeval-setup/operator}
PY=${PY:-python3}

complete() {  # the same test as operator_build._is_complete
  [ -f "$1/LINE" ] && [ -x "$1/manager" ] && [ -x "$1/driver" ] && [ -f "$1/src/$CRD" ]
}

# The commit a `git archive` tarball was made from (its pax global header comment).
archive_commit() {
  "$PY" -c 'import sys, tarfile; print(tarfile.open(sys.argv[1]).pax_headers.get("comment", ""))' "$1"
}

# Puts the line's source tree into $2 and prints the commit it came from.
fetch_source() {
  local source=$1 dest=$2
  case $source in
    archive:*)
      local file=$archives/${source#archive:}
      mkdir -p "$dest"
      tar -xzf "$file" -C "$dest" --strip-components=1
      archive_commit "$file" ;;
    proxy:*)
      local json dir
      json=$(GOFLAGS=-mod=mod go mod download -json "$MODULE@${source#proxy:}")
      dir=$("$PY" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' <<<"$json")
      cp -R "$dir/." "$dest"
      chmod -R u+w "$dest"  # the module cache is read-only
      "$PY" -c 'import json, sys; print(json.load(sys.stdin).get("Origin", {}).get("Hash", ""))' <<<"$json" ;;
  esac
}

build_line() {
  local name=$1 commit=$2 source=$3 dir=$root/$2
  if complete "$dir"; then echo "operator $name: built ($dir)" >&2; return 0; fi
  if [[ $source == archive:* && ! -f $archives/${source#archive:} ]]; then
    echo "operator $name: skipped, no source archive at $archives/${source#archive:}" >&2; return 0
  fi
  command -v go >/dev/null || { echo "error: Go is needed to build the TrustyAI operator (install Go >= 1.26)" >&2; exit 4; }
  mkdir -p "$root"
  local tmp start got
  tmp=$(mktemp -d "$root/.build.XXXXXX")
  chmod 755 "$tmp"  # mktemp makes it private; the build is a shared cache
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  echo "operator $name: building manager + driver at ${commit:0:12} (first time only; ~3 min on 2 cores)" >&2
  got=$(fetch_source "$source" "$tmp/src")
  if [ "$got" != "$commit" ]; then
    echo "error: operator $name: source is commit '${got:-unknown}', expected $commit" >&2; exit 1
  fi
  # Static, trimmed, stripped; GOTOOLCHAIN=local: build with the installed Go, never fetch another.
  (cd "$tmp/src" && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -ldflags "-s -w" \
      -o "$tmp/manager" ./cmd/main.go \
    && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -ldflags "-s -w" \
      -o "$tmp/driver" ./cmd/lmes_driver)
  echo "$name" >"$tmp/LINE.new"
  rm -rf "$dir"
  mv "$tmp" "$dir" && mv "$dir/LINE.new" "$dir/LINE"
  trap - EXIT
  echo "operator $name: built in $(( $(date +%s) - start )) s" >&2
}

wanted=("$@")
names=" "; for entry in "${LINES[@]}"; do names+="${entry%% *} "; done
for w in "${wanted[@]}"; do
  [[ $names == *" $w "* ]] || { echo "error: unknown operator line '$w' (one of:$names)" >&2; exit 2; }
done
for entry in "${LINES[@]}"; do
  read -r name commit source <<<"$entry"
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
  build_line "$name" "$commit" "$source"
done
echo "$root"
