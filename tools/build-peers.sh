#!/usr/bin/env bash
# Builds the benchmark's peers from the Go module proxy into a cache outside the repository, once:
#   toxiproxy-server (github.com/Shopify/toxiproxy/v2): the TCP proxy that adds round-trip latency between a
#     client and the sandbox apiserver;
#   k8sgpt (github.com/k8sgpt-ai/k8sgpt): the peer diagnosis tool `make bench` times beside the doctor.
# Used by `make bench` only. A peer that cannot be built is reported and skipped (the benchmark says why);
# the script fails only when Go itself is missing.
# Usage: build-peers.sh [toxiproxy|k8sgpt ...] (default: both). Prints the cache directory as its last line.
set -euo pipefail

TOXIPROXY_VERSION=v2.12.0
K8SGPT_VERSION=v0.4.17
cache=${LMEVAL_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lmeval-setup/peers}

# The proxy answers @latest and @v/list with 403, so `go install mod@version` fails even for a served
# version; downloading the exact module and building inside a writable copy of it works.
build_module() {  # name module version package output
  local name=$1 module=$2 version=$3 package=$4 out=$5 dir tmp start
  if [ -x "$out" ]; then return 0; fi
  start=$(date +%s)
  echo "building $name $version into $out (first time only)" >&2
  if ! dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') \
      || [ -z "$dir" ]; then
    echo "warning: $module@$version is not available from the Go module proxy; $name skipped" >&2
    return 0
  fi
  tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
  cp -r "$dir/." "$tmp/src" 2>/dev/null || cp -r "$dir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  if (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$tmp/$name" "$package"); then
    mv -f "$tmp/$name" "$out"
    echo "built $name in $(( $(date +%s) - start )) s" >&2
  else
    echo "warning: building $name $version failed; it is skipped" >&2
  fi
  rm -rf "$tmp"
}

command -v go >/dev/null || { echo "error: Go is needed to build the benchmark peers (install Go >= 1.26)" >&2; exit 4; }
mkdir -p "$cache"
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(toxiproxy k8sgpt)
for peer in "${wanted[@]}"; do
  case $peer in
    toxiproxy) build_module toxiproxy-server github.com/Shopify/toxiproxy/v2 "$TOXIPROXY_VERSION" ./cmd/server \
                 "$cache/toxiproxy-server-$TOXIPROXY_VERSION" ;;
    k8sgpt) build_module k8sgpt github.com/k8sgpt-ai/k8sgpt "$K8SGPT_VERSION" . "$cache/k8sgpt-$K8SGPT_VERSION" ;;
    *) echo "error: unknown peer $peer (toxiproxy, k8sgpt)" >&2; exit 2 ;;
  esac
done
echo "$cache"
