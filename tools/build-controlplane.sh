#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager, plus kubectl for
# baselines and demos) from the Go module proxy into a cache outside the repository, and does
# nothing when the binaries are already there.
# Prints the cache directory on stdout as its last line.
set -euo pipefail

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LMEVAL_CONTROLPLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lmeval-setup/controlplane/$K8S_VERSION}
binaries=(etcd kube-apiserver kube-controller-manager kubectl)

# The sandbox kubelet's pods/exec server (tools/kubeletstream, k8s.io/cri-streaming): small, built beside the
# control plane and rebuilt whenever its sources change (their hash is stamped next to the binary).
build_kubelet_stream() {
  local sum
  sum=$(cat "$here/kubeletstream/go.mod" "$here/kubeletstream/go.sum" "$here/kubeletstream/main.go" | sha256sum | cut -c1-16)
  if [ -x "$cache/kubelet-stream" ] && [ "$(cat "$cache/kubelet-stream.sum" 2>/dev/null)" = "$sum" ]; then return 0; fi
  command -v go >/dev/null || { echo "error: Go is needed to build kubelet-stream (install Go >= 1.26)" >&2; exit 4; }
  mkdir -p "$cache"
  (cd "$here/kubeletstream" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/.kubelet-stream.new" .)
  mv -f "$cache/.kubelet-stream.new" "$cache/kubelet-stream"
  echo "$sum" > "$cache/kubelet-stream.sum"
}

missing=()
for b in "${binaries[@]}"; do [ -x "$cache/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then build_kubelet_stream; echo "$cache"; exit 0; fi

command -v go >/dev/null || { echo "error: Go is needed to build ${missing[*]} (install Go >= 1.26)" >&2; exit 4; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

# Upstream release builds: static, trimmed, stripped, stamped with the exact module version so
# /version and emulation-version checks agree with the code.
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

echo "building control plane $K8S_VERSION + etcd $ETCD_VERSION into $cache (first time only; ~15-25 min on 2 cores)" >&2
(cd "$here/etcdbin" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
(cd "$here/k8sbin" && CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl)
for b in "${binaries[@]}"; do mv -f "$tmp/$b" "$cache/$b"; done
build_kubelet_stream
echo "built in $(( $(date +%s) - start )) s" >&2
echo "$cache"
