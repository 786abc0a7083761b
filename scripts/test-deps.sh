#!/usr/bin/env bash
# Makes sure the programs a test group needs are here, before any test of it runs.
#   scripts/test-deps.sh integration   what `npm test` needs: redis-server, dnsmasq, openssl, chromium,
#                                      promtool, nutcracker, memcached and a
#                                      real Elasticsearch (Java 17; Maven and unzip to fetch it once)
#   scripts/test-deps.sh bench         the peers and load generators the benchmarks use (haproxy, nginx, wrk, h2load...)
#   scripts/test-deps.sh fuzz          what `npm run fuzz` needs: g++ (builds fuzz/jazzer-compat on Debian 12)
#   scripts/test-deps.sh all           all of them
# As root on Debian it installs what is missing with apt-get (idempotent; with everything present
# it only looks, in well under a second). Anywhere else it installs nothing and, if something is
# missing, exits 1 with one line naming each missing program and the command that installs it.
# TEST_DEPS_INSTALL=0 never installs (what a non-root user gets), for checking that message.
set -euo pipefail
cd "$(dirname "$0")/.."

# program:Debian package, per group.
integration=(redis-server:redis-server dnsmasq:dnsmasq-base openssl:openssl curl:curl promtool:prometheus chromium:chromium
  nutcracker:nutcracker memcached:memcached
  java:openjdk-17-jre-headless runuser:util-linux nsenter:util-linux)
# Fetching Elasticsearch (once, into the cache) also needs Maven and unzip.
es_fetch=(mvn:maven unzip:unzip)
bench=(haproxy:haproxy nginx:nginx-light wrk:wrk h2load:nghttp2-client rsyslogd:rsyslog)
fuzz=(g++:g++)

group=${1:-integration}
wanted=()
case $group in
  integration) wanted=("${integration[@]}") ;;
  bench) wanted=("${bench[@]}") ;;
  fuzz) wanted=("${fuzz[@]}") ;;
  all) wanted=("${integration[@]}" "${bench[@]}" "${fuzz[@]}") ;;
  *) echo "test-deps.sh: unknown group '$group' (integration, bench, fuzz or all)" >&2; exit 2 ;;
esac
needs_es=0
if [[ $group == integration || $group == all ]]; then
  needs_es=1
  bash scripts/elasticsearch.sh installed || wanted+=("${es_fetch[@]}")
fi

missing_programs=()
missing_packages=()
for entry in "${wanted[@]}"; do
  program=${entry%%:*} package=${entry#*:}
  command -v "$program" >/dev/null 2>&1 && continue
  missing_programs+=("$program")
  [[ " ${missing_packages[*]} " == *" $package "* ]] || missing_packages+=("$package")
done
# rsyslog's Elasticsearch output is a module, not a program.
if [[ ( $group == bench || $group == all ) && $(dpkg-query -W -f='${Status}' rsyslog-elasticsearch 2>/dev/null) != 'install ok installed' ]]; then
  missing_programs+=("rsyslog's omelasticsearch")
  missing_packages+=(rsyslog-elasticsearch)
fi

if ((${#missing_packages[@]})); then
  if [[ ${TEST_DEPS_INSTALL:-1} != 0 && $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps.sh: installing ${missing_packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
    # Debian starts packaged daemons on install; the tests start their own on 127.0.0.1.
    if command -v systemctl >/dev/null 2>&1; then
      for svc in haproxy nginx redis-server rsyslog memcached nutcracker; do systemctl stop "$svc" >/dev/null 2>&1 || true; done
    fi
  else
    echo "test-deps.sh: missing ${missing_programs[*]}: install them as root with 'apt-get install -y ${missing_packages[*]}' (or run 'sudo bash scripts/install-test-deps.sh')" >&2
    exit 1
  fi
fi

if ((needs_es)); then
  if ! out=$(bash scripts/elasticsearch.sh install 2>&1); then
    echo "test-deps.sh: cannot install Elasticsearch: $(printf '%s' "$out" | tail -n 1)" >&2
    exit 1
  fi
fi
