#!/usr/bin/env bash
# Prepares the end-to-end tests: podman, the Kubernetes schema validator, every image.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${SIDECAR_KIT_CACHE:-$HOME/.cache/sidecar-kit}
bash scripts/install-podman.sh >/dev/null
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
command -v nsenter >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux >/dev/null; }
command -v kubectl >/dev/null || { echo "e2e-setup: kubectl is needed for 'kubectl kustomize'" >&2; exit 1; }
if [ ! -x "$cache/venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q 'kubernetes-validate==1.37.0'
fi
mkdir -p .cache
bash images/build.sh --local-bases
