#!/usr/bin/env bash
# Install and configure podman for sidecar-kit's container tests (Debian 12, run as root).
#
# Idempotent: installs only missing packages, rewrites /etc/containers/containers.conf only
# when it differs, and finishes with `podman info`.
#
# Network safety: this machine must never give containers private-range addresses
# (10.x / 172.16-31.x / 192.168.x). Podman's default network is a bridge on 10.88.0.0/16 and
# `podman run` / `podman build` / `podman kube play` use it unless told otherwise, so the
# config below sets `netns = "none"` as the default: a container only gets a network when a
# test asks for one explicitly (`--network none`, `--network ns:/run/netns/NAME`, or
# `--network host` for `podman build` steps that must reach the npm registry).
# Packages are installed with --no-install-recommends: docker-compose recommends docker.io,
# whose daemon would create the docker0 bridge on 172.17.0.0/16.
set -euo pipefail

if [[ ${EUID} -ne 0 ]]; then
  echo "install-podman.sh: must run as root" >&2
  exit 1
fi

log() { printf 'install-podman: %s\n' "$*"; }

# crun fails on this machine (cgroups in hybrid mode): install runc alongside podman so apt
# satisfies podman's "crun | runc" dependency with runc. busybox-static is used by
# images/base/build-local-bases.sh for the builder image's /bin/sh.
packages=(podman runc docker-compose iproute2 uidmap busybox-static)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages already installed"
fi

if dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'install ok installed'; then
  log "WARNING: docker.io is installed; its daemon creates the docker0 bridge (172.17.0.0/16)" >&2
fi

conf=/etc/containers/containers.conf
want=$(cat <<'CONF'
# Written by sidecar-kit scripts/install-podman.sh
[containers]
# Raising limits is not permitted on this machine.
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
# No default network: never join podman's bridge (10.88.0.0/16). Ask for a network explicitly.
netns = "none"

[engine]
# crun fails here (cgroups in hybrid mode).
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)
mkdir -p /etc/containers
if [[ -f $conf ]] && [[ "$(cat "$conf")" == "$want" ]]; then
  log "$conf already up to date"
else
  if [[ -f $conf ]]; then
    cp -p "$conf" "$conf.bak.$(date +%s)"
    log "backed up previous $conf"
  fi
  printf '%s\n' "$want" >"$conf"
  log "wrote $conf"
fi

# Check that no bridge network config exists that something could attach to by name.
# (Podman 4.3 keeps its default "podman" network in memory and only creates the bridge
# interface when a container joins it; a config file in these dirs would be a user-made one.)
for d in /etc/containers/networks /etc/cni/net.d; do
  if [[ -d $d ]] && compgen -G "$d/*" >/dev/null; then
    log "note: network configs present in $d: $(ls "$d" | tr '\n' ' ')"
  fi
done
for ifc in podman0 cni-podman0 docker0; do
  if ip link show "$ifc" >/dev/null 2>&1; then
    log "WARNING: bridge interface $ifc exists; some container used a bridge network" >&2
  fi
done

if ! out=$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Host.NetworkBackend}} {{.Version.Version}}' 2>&1); then
  echo "install-podman.sh: podman info failed:" >&2
  echo "$out" >&2
  exit 1
fi
read -r rt cg nb ver <<<"$out"
log "podman $ver ok (runtime=$rt cgroups=$cg network-backend=$nb)"
if [[ $rt != runc ]]; then
  echo "install-podman.sh: expected OCI runtime runc, got $rt" >&2
  exit 1
fi
