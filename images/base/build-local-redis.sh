#!/usr/bin/env bash
# Build a LOCAL stand-in for the public image redis:7.2-alpine, for machines without a container
# registry (the e2e tests run examples/ambassador-redis with it):
#
#   localhost/sidecar-kit/redis:7   FROM scratch: the host's redis-server and redis-cli (Debian's
#       redis-server / redis-tools packages) with the shared libraries `ldd` lists, a static
#       busybox for /bin/sh (the alpine image has one, and the example's app is a sh loop around
#       redis-cli), passwd/group with redis (999) and nonroot (65532), an empty /data as the
#       working directory, USER 999:999.
#
# Its entrypoint does what the official image's docker-entrypoint.sh does with arguments: a first
# argument starting with "-" (or ending in ".conf") is given to redis-server, anything else is
# run as a command. So both `args: ["--save", ""]` and `command: ["redis-server", ...]` work.
# It writes nothing outside /data, and with `--save ''` (appendonly is off by default) nothing
# at all: it runs on a read-only root filesystem.
#
# The image carries a label with the sha256 of the redis binaries and of these scripts: it is rebuilt
# only when either changed (or with --force). Needs: podman, ldd, redis-server, redis-cli,
# busybox-static.
set -euo pipefail

usage() {
  cat <<EOF
usage: $0 [--force]
  --force    rebuild the image even if it is up to date
env: IMAGE_PREFIX (default localhost/sidecar-kit), REDIS_SERVER (default the redis-server on PATH),
     REDIS_CLI, BUSYBOX (default /bin/busybox)
EOF
}

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

# shellcheck source=images/base/rootfs.sh
. "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh"
log() { printf 'build-local-redis: %s\n' "$*" >&2; }
die() { printf 'build-local-redis: %s\n' "$*" >&2; exit 1; }

command -v podman >/dev/null || die "podman not found (run scripts/install-podman.sh)"
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
REDIS_CLI=${REDIS_CLI:-$(command -v redis-cli || true)}
BUSYBOX=${BUSYBOX:-/bin/busybox}
[[ -n $REDIS_SERVER && -x $REDIS_SERVER ]] || die "no redis-server (apt-get install redis-server)"
[[ -n $REDIS_CLI && -x $REDIS_CLI ]] || die "no redis-cli (apt-get install redis-tools)"
[[ -x $BUSYBOX ]] && "$BUSYBOX" --list-full >/dev/null 2>&1 ||
  die "no busybox at $BUSYBOX (apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked; install busybox-static"; fi

# "Redis server v=7.0.15 sha=..." -> 7.0.15; the image is tagged with the major and the full version.
version=$("$REDIS_SERVER" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
[[ -n $version ]] || die "cannot read the version of $REDIS_SERVER"
PREFIX=${IMAGE_PREFIX:-localhost/sidecar-kit}
IMAGE=$PREFIX/redis:${version%%.*}
inputs=$(cat "$(readlink -f "$REDIS_SERVER")" "$(readlink -f "$REDIS_CLI")" "$0" "$(dirname "$0")/rootfs.sh" | sha256sum | cut -d' ' -f1)

if ((!force)) && podman image exists "$IMAGE" &&
  [[ $(podman image inspect "$IMAGE" --format '{{index .Labels "sidecar-kit.inputs-sha256"}}') == "$inputs" ]]; then
  log "$IMAGE is up to date (use --force to rebuild)"
  exit 0
fi

start=$SECONDS
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/bin" "$root/usr/local/bin" "$root/bin" "$root/etc" "$root/tmp" "$ctx/data"
chmod 1777 "$root/tmp"
# cp -L: Debian's redis-server is a symlink to redis-check-rdb, and redis picks its mode from argv[0].
cp -L "$REDIS_SERVER" "$root/usr/bin/redis-server"
cp -L "$REDIS_CLI" "$root/usr/bin/redis-cli"
copy_libraries "$root" "$REDIS_SERVER" "$REDIS_CLI"
install_busybox "$root" "$BUSYBOX"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
redis:x:999:999:redis:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
redis:x:999:
nobody:x:65534:
nonroot:x:65532:
EOF
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# As the official image: options (or a .conf file) first means "run redis-server with these".
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
exec "$@"
EOF
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=999:999 data/ /data/
ENV PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /data
USER 999:999
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
podman build --quiet --network none --pull=never \
  --label "org.opencontainers.image.title=redis (local stand-in for redis:7.2-alpine)" \
  --label "org.opencontainers.image.source=sidecar-kit images/base/build-local-redis.sh" \
  --label "org.opencontainers.image.version=$version" \
  --label "sidecar-kit.inputs-sha256=$inputs" \
  -t "$IMAGE" -t "$PREFIX/redis:$version" -f "$ctx/Containerfile" "$ctx" >/dev/null
log "built $IMAGE (redis $version) in $((SECONDS - start)) s"
