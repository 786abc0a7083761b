#!/usr/bin/env bash
# Installs what the integration tests and benchmarks need on Debian (run as root; idempotent).
# Elasticsearch comes from Maven Central (scripts/elasticsearch.sh install).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # real peers and servers the tests and benchmarks run against
  haproxy nginx-light wrk redis-server dnsmasq-base rsyslog rsyslog-elasticsearch
  # Elasticsearch (integ-test zip) needs Java 17 and Maven to fetch it
  openjdk-17-jre-headless maven unzip curl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts packaged daemons on install; the tests start their own on 127.0.0.1.
for svc in haproxy nginx redis-server rsyslog; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done

if [ -x scripts/elasticsearch.sh ]; then bash scripts/elasticsearch.sh install; fi
if [ -x scripts/install-podman.sh ]; then bash scripts/install-podman.sh; fi
