#!/usr/bin/env bash
# A real Elasticsearch on 127.0.0.1 for tests, benchmarks and the e2e Pods.
#   scripts/elasticsearch.sh install                       fetch the integ-test zip from Maven Central
#   scripts/elasticsearch.sh installed                     exit 0 when it is fetched already, else 1
#   scripts/elasticsearch.sh start [--port N] [--data DIR] [--keep-data]   (refused while one runs on N)
#                                                          start it (with empty data unless --keep-data),
#                                                          wait until it answers, print its URL
#   scripts/elasticsearch.sh stop [--port N]                stop the server started on that port
# The integ-test zip is Elastic's stripped-down server (no security module, plain HTTP).
# Elasticsearch refuses to run as root: as root it runs as the system user "sidecar-es".
# START_NETNS_PID=PID starts it inside that process's network namespace (a podman Pod's).
set -euo pipefail

ES_VERSION=${ES_VERSION:-8.19.21}
CACHE=${SIDECAR_KIT_CACHE:-$HOME/.cache/sidecar-kit}
HOME_DIR=$CACHE/elasticsearch-$ES_VERSION
RUN_DIR=${ES_RUN_DIR:-/tmp/sidecar-kit-es}
ES_USER=sidecar-es
log() { printf 'elasticsearch.sh: %s\n' "$*" >&2; }

installed() { [[ -x $HOME_DIR/bin/elasticsearch ]]; }

install() {
  if installed; then return 0; fi
  command -v java >/dev/null || { log "java is needed (apt-get install openjdk-17-jre-headless)"; exit 1; }
  command -v mvn >/dev/null || { log "maven is needed (apt-get install maven)"; exit 1; }
  local tmp
  tmp=$(mktemp -d)
  log "fetching org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION from Maven Central"
  mvn -q dependency:copy -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" -DoutputDirectory="$tmp" >&2
  mkdir -p "$CACHE"
  unzip -q "$tmp/elasticsearch-$ES_VERSION.zip" -d "$tmp/x"
  rm -rf "$HOME_DIR"
  mv "$tmp/x/elasticsearch-$ES_VERSION" "$HOME_DIR"
  rm -rf "$tmp"
  chmod -R a+rX "$HOME_DIR"
  log "installed in $HOME_DIR"
}

as_es_user() {
  if [[ $EUID -eq 0 ]]; then
    id -u "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    # The cache may sit under /root: let the ES user through to it.
    local dir=$HOME_DIR
    while [[ $dir != / ]]; do chmod o+x "$dir" 2>/dev/null || true; dir=$(dirname "$dir"); done
    runuser -u "$ES_USER" -- "$@"
  else
    "$@"
  fi
}

start() {
  local port=9200 data="" keep=0
  while (($#)); do
    case $1 in
      --port) port=$2; shift 2 ;;
      --data) data=$2; shift 2 ;;
      --keep-data) keep=1; shift ;;
      *) log "unknown option $1"; exit 2 ;;
    esac
  done
  install
  local dir=$RUN_DIR/$port
  # Never wipe the data of a server that is running: its shards would fail under it.
  if [[ -f $dir/es.pid ]] && kill -0 "$(cat "$dir/es.pid")" 2>/dev/null; then
    log "an Elasticsearch started by this script already runs on port $port (pid $(cat "$dir/es.pid")): stop it first"
    exit 1
  fi
  if curl -fsS -m 2 "http://127.0.0.1:$port/_cluster/health" >/dev/null 2>&1; then
    log "an Elasticsearch already answers on port $port: stop it first"
    exit 1
  fi
  mkdir -p "$dir"
  [[ -n $data ]] || data=$dir/data
  ((keep)) || rm -rf "$data"
  mkdir -p "$data" "$dir/logs"
  # Each server gets its own writable config dir (ES writes a keystore there).
  rm -rf "$dir/config" && cp -r "$HOME_DIR/config" "$dir/config"
  [[ $EUID -eq 0 ]] && { id -u "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"; chown -R "$ES_USER" "$dir" "$data"; }
  local prefix=()
  [[ -n ${START_NETNS_PID:-} ]] && prefix=(nsenter -t "$START_NETNS_PID" -n)
  local heap=${ES_HEAP:-512m} java_home
  java_home=${ES_JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
  # -d daemonizes; -p writes the pid file. Disk watermarks off: test machines may be nearly full.
  "${prefix[@]}" env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$dir/config" ES_JAVA_OPTS="-Xms$heap -Xmx$heap ${ES_EXTRA_JAVA_OPTS:-}" bash -c "$(declare -f as_es_user); HOME_DIR='$HOME_DIR' ES_USER='$ES_USER' as_es_user '$HOME_DIR/bin/elasticsearch' -d -p '$dir/es.pid' \
    -E network.host=127.0.0.1 -E http.port=$port -E transport.port=0 -E discovery.type=single-node \
    -E cluster.name=sidecar-kit-test-$port -E node.name=es-$port \
    -E path.data='$data' -E path.logs='$dir/logs' \
    -E cluster.routing.allocation.disk.threshold_enabled=false -E action.destructive_requires_name=false \
    -E xpack.security.enabled=false -E xpack.security.autoconfiguration.enabled=false" >"$dir/stdout.log" 2>&1 || { cat "$dir/stdout.log" >&2; exit 1; }
  local url=http://127.0.0.1:$port check=(curl -fsS -m 2)
  [[ -n ${START_NETNS_PID:-} ]] && check=(nsenter -t "$START_NETNS_PID" -n curl -fsS -m 2)
  for _ in $(seq 1 240); do
    if "${check[@]}" "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      echo "$url"
      return 0
    fi
    if [[ -f $dir/es.pid ]] && ! kill -0 "$(cat "$dir/es.pid")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "Elasticsearch on port $port did not come up; log tail:"
  tail -n 40 "$dir/logs/"*.log >&2 2>/dev/null || cat "$dir/stdout.log" >&2
  exit 1
}

stop() {
  local port=9200
  while (($#)); do
    case $1 in
      --port) port=$2; shift 2 ;;
      *) log "unknown option $1"; exit 2 ;;
    esac
  done
  local dir=$RUN_DIR/$port pid
  [[ -f $dir/es.pid ]] || return 0
  pid=$(cat "$dir/es.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/es.pid"
}

cmd=${1:-}
shift || true
case $cmd in
  install) install ;;
  installed) installed ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
