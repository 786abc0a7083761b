#!/usr/bin/env bash
# Install and configure podman for sidecar-kit's container tests (Debian 12, run as root).
#
# Idempotent: installs only missing packages, rewrites /etc/containers/containers.conf only
# when it differs, and finishes with `podman info`.
#
# Network safety: this machine must never give containers private-range addresses
# (10.x / 172.16-31.x / 192.168.x). Out of the box, podman's default network "podman" is a CNI
# bridge on 10.88.0.0/16 (/etc/cni/net.d/87-podman-bridge.conflist, shipped by the podman
# package) and `podman build` RUN steps, `podman run` and `podman kube play` join it unless told
# otherwise; the first use creates the cni-podman0 bridge and iptables chains (seen: a RUN step
# got 10.88.0.2). `netns = "none"` in containers.conf covers `podman run` but NOT `podman build`.
# So this script:
#   - makes the default network a CNI network with only the loopback plugin
#     ("sidecar-kit-loopback"): anything that falls back to the default network gets a netns
#     with just 127.0.0.1, no bridge, no iptables;
#   - renames the shipped bridge conflist so no "podman" bridge network exists at all
#     (dpkg keeps a removed conffile removed on upgrade);
#   - pins network_backend = "cni": netavark has no loopback-only driver.
# Ask for a network explicitly when needed: `--network none`, `--network ns:/run/netns/NAME`, or
# `--network host` for `podman build` steps that must reach the npm registry.
# Packages are installed with --no-install-recommends: docker-compose recommends docker.io,
# whose daemon would create the docker0 bridge on 172.17.0.0/16, and golang-github-containers-
# common recommends netavark.
set -euo pipefail

if [[ ${EUID} -ne 0 ]]; then
  echo "install-podman.sh: must run as root" >&2
  exit 1
fi

log() { printf 'install-podman: %s\n' "$*"; }

# crun fails on this machine (cgroups in hybrid mode): install runc alongside podman so apt
# satisfies podman's "crun | runc" dependency with runc. busybox-static is used by
# images/base/build-local-bases.sh for the builder image's /bin/sh. catatonit is only a
# "Recommends" of podman but `podman pod create` needs it to build its local pause image
# ("finding pause binary: exec: catatonit: executable file not found").
packages=(podman runc catatonit docker-compose iproute2 uidmap busybox-static)
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
# No network unless asked for: never join a bridge.
netns = "none"

[engine]
# crun fails here (cgroups in hybrid mode).
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "cni"
# Loopback-only CNI network (see below), used by `podman build` RUN steps and `kube play`
# when no --network is given.
default_network = "sidecar-kit-loopback"
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

cni_dir=/etc/cni/net.d
loopback_conf=$cni_dir/10-sidecar-kit-loopback.conflist
want_net='{
  "cniVersion": "0.4.0",
  "name": "sidecar-kit-loopback",
  "plugins": [{ "type": "loopback" }]
}'
mkdir -p "$cni_dir"
if [[ -f $loopback_conf ]] && [[ "$(cat "$loopback_conf")" == "$want_net" ]]; then
  log "$loopback_conf already up to date"
else
  printf '%s\n' "$want_net" >"$loopback_conf"
  log "wrote $loopback_conf"
fi
bridge_conf=$cni_dir/87-podman-bridge.conflist
if [[ -f $bridge_conf ]]; then
  mv "$bridge_conf" "$bridge_conf.disabled-by-sidecar-kit"
  log "disabled podman's default bridge network ($bridge_conf -> *.disabled-by-sidecar-kit)"
fi

# Report any bridge network that could still be joined by name, and any bridge already made.
for f in "$cni_dir"/*.conflist "$cni_dir"/*.conf /etc/containers/networks/*.json; do
  [[ -f $f ]] || continue
  if grep -q '"type": *"bridge"\|"driver": *"bridge"' "$f"; then
    log "WARNING: bridge network config $f exists; do not use that network" >&2
  fi
done
for ifc in cni-podman0 podman0 docker0; do
  if ip link show "$ifc" >/dev/null 2>&1; then
    log "WARNING: bridge interface $ifc exists: a container used a bridge network." >&2
    log "  remove: ip link del $ifc; then drop the CNI-*/NETAVARK-* iptables chains" >&2
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
if [[ $(podman network ls --format '{{.Name}} {{.Driver}}') != "sidecar-kit-loopback loopback" ]]; then
  echo "install-podman.sh: unexpected podman networks:" >&2
  podman network ls >&2
  exit 1
fi
