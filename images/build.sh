#!/usr/bin/env bash
# Builds the sidecar-kit images with podman (or docker where a user has it).
#   images/build.sh [--local-bases] [IMAGE...]
# IMAGE defaults to every image: log-shipper ambassador metrics-adapter demo-app (the packages,
# from images/Dockerfile) and grpc-demo (the app of examples/ambassador-grpc, from its own
# Dockerfile in examples/ambassador-grpc/app).
# --local-bases builds stand-ins for node:24-slim and distroless nodejs24 locally first
# (images/base/build-local-bases.sh), and for redis:7.2-alpine (images/base/build-local-redis.sh,
# what the ambassador-redis example runs), for machines without a registry. Otherwise set
# BUILD_IMAGE / RUNTIME_IMAGE to override the Dockerfile's public defaults.
# Each image is tagged ${IMAGE_REPO:-ghcr.io/sidecar-kit}/NAME:VERSION and localhost/sidecar-kit/NAME:VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."

local_bases=0
targets=()
for arg in "$@"; do
  case $arg in
    --local-bases) local_bases=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
((${#targets[@]})) || targets=(log-shipper ambassador metrics-adapter demo-app grpc-demo)

engine=${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
repo=${IMAGE_REPO:-ghcr.io/sidecar-kit}
args=()
if ((local_bases)); then
  bash images/base/build-local-bases.sh >&2
  bash images/base/build-local-redis.sh >&2
  BUILD_IMAGE=localhost/sidecar-kit/node-builder:24
  RUNTIME_IMAGE=localhost/sidecar-kit/node-runtime:24
fi
[[ -n ${BUILD_IMAGE:-} ]] && args+=(--build-arg "BUILD_IMAGE=$BUILD_IMAGE")
[[ -n ${RUNTIME_IMAGE:-} ]] && args+=(--build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE")
if [[ $engine == podman ]]; then
  # The build stage reaches the npm registry through the host network; nothing else gets a network.
  args+=(--network host)
  ((local_bases)) && args+=(--pull=never)
fi

for name in "${targets[@]}"; do
  # Example apps have their own Dockerfile and context; packages share images/Dockerfile.
  case $name in
    grpc-demo) build=(-f examples/ambassador-grpc/app/Dockerfile examples/ambassador-grpc/app) ;;
    *)
      [[ -d packages/$name ]] || { echo "build.sh: no package $name" >&2; exit 2; }
      build=(-f images/Dockerfile --build-arg "PACKAGE=$name" .)
      ;;
  esac
  start=$SECONDS
  "$engine" build -q "${args[@]}" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    -t "$repo/$name:$version" -t "localhost/sidecar-kit/$name:$version" "${build[@]}" >/dev/null
  size=$("$engine" image inspect "$repo/$name:$version" --format '{{.Size}}')
  printf '%-18s %s/%s:%s  %d MB  (%ds)\n' "$name" "$repo" "$name" "$version" $((size / 1000000)) $((SECONDS - start))
done
