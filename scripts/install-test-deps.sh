#!/usr/bin/env bash
# Installs everything the tests, benchmarks and e2e suite need on Debian (run as root; idempotent):
# the integration servers and benchmark peers (scripts/test-deps.sh all, which also fetches
# Elasticsearch from Maven Central) and podman for the e2e suite (scripts/install-podman.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh all
bash scripts/install-podman.sh
