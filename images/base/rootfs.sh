# Rootfs steps shared by build-local-bases.sh and build-local-redis.sh (sourced, not run).

# copy_libraries ROOT BINARY...: the shared libraries `ldd` lists for the binaries, at their paths.
# ldd prints "name => /path (addr)" or "/path (addr)" (and "/file:" above each file's list when
# given several); linux-vdso has no file.
copy_libraries() {
  local root=$1 lib
  shift
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$@" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\// && $i !~ /:$/) print $i }' | sort -u)
}

# install_busybox ROOT BUSYBOX: a static busybox at /bin/busybox and a link for each applet the
# rootfs does not already have.
install_busybox() {
  local root=$1 busybox=$2 applet
  cp "$busybox" "$root/bin/busybox"
  while read -r applet; do
    [[ -e $root/$applet || -L $root/$applet ]] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -s /bin/busybox "$root/$applet"
  done < <("$busybox" --list-full)
}
