#!/usr/bin/env bash
# Builds the Dockerfile for real and runs the bot inside the image — no daemon, no registry.
#
#   1. debootstrap: a Debian bookworm minbase from the machine's own Debian mirror, slimmed
#      like the official slim image, kept as a tarball (built once per machine);
#   2. buildah imports the tarball as debian:bookworm-slim, the Dockerfile's FROM;
#   3. buildah builds the Dockerfile (--pull=never, vfs storage, chroot isolation);
#   4. in the image: `stagecoach --version` and `stagecoach demo` must pass, the process must
#      not be root, and the entrypoint, default args, port and volume must be the documented ones.
#
# Env: STAGECOACH_BIN          the binary to put in the image (default target/debug/stagecoach,
#                              which `cargo test` already built; CI needs no release build)
#      STAGECOACH_IMAGE_CACHE  the tarball and buildah's storage (default target/ci-image);
#                              delete it to start from nothing (the fresh-machine path)
# Needs root (debootstrap; buildah's chroot isolation) and Debian's `debootstrap` and `buildah`.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${STAGECOACH_BIN:-target/debug/stagecoach}
cache=${STAGECOACH_IMAGE_CACHE:-target/ci-image}
suite=bookworm
base=docker.io/library/debian:bookworm-slim
image=localhost/stagecoach:check

say() { printf 'check-image: [%3ss] %s\n' "$SECONDS" "$*"; }
fail() {
  printf 'check-image: FAIL: %s\n' "$*" >&2
  exit 1
}

for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || fail "\`$tool\` not found: apt-get install $tool (.ci/run does)"
done
[ "$(id -u)" = 0 ] || fail "debootstrap and buildah's chroot isolation need root; run as root"
[ -x "$bin" ] || fail "$bin: no such executable; build it first (cargo build --locked) or set STAGECOACH_BIN"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# The URI of the first enabled Debian source for a suite in the machine's APT configuration
# (one-line `sources.list` and deb822 `.sources` files both).
apt_uri_for_suite() {
  local want=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    awk -v s="$want" '$1 == "deb" { i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
        if ($(i + 1) == s) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v s="$want" 'BEGIN { RS = ""; FS = "\n" }
      { types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/) continue
          split($i, kv, ":[ \t]*"); key = tolower(kv[1]); val = substr($i, length(kv[1]) + 2)
          gsub(/^[ \t]+|[ \t]+$/, "", val)
          if (key == "types") types = val; else if (key == "uris") uris = val
          else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        if ((" " suites " ") ~ (" " s " ")) { split(uris, u, /[ \t]+/); print u[1]; exit } }' "$f"
  done
}

mirror=$(apt_uri_for_suite "$suite" | head -n1)
[ -n "$mirror" ] || fail "no Debian source for $suite in /etc/apt/sources.list*: debootstrap has no mirror to use"
security=$(apt_uri_for_suite "$suite-security" | head -n1)

# ── 1. The base rootfs, once per machine ─────────────────────────────────────────────────
tarball=$cache/debian-$suite-minbase.tar
if [ ! -s "$tarball" ]; then
  say "debootstrap --variant=minbase $suite from $mirror (once per machine; cached in $tarball)"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  cleanup_rootfs() {
    # debootstrap mounts /proc and /sys inside while it runs; never delete through a mount.
    findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r umount -l || true
    rm -rf --one-file-system "$work"
  }
  trap cleanup_rootfs EXIT
  debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    fail "debootstrap failed; last lines of $cache/debootstrap.log: $(tail -n 5 "$cache/debootstrap.log" | tr '\n' ' ')"
  root=$work/rootfs
  # The same APT sources and the same slimming (no docs, man pages or locales) as the
  # official debian:bookworm-slim image, so the Dockerfile's apt-get behaves as it would there.
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$suite" "$suite"
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$security" "$suite"
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/var/cache/apt/archives/"*.deb \
    "$root/var/lib/apt/lists/"* "$root/var/log/"*.log
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  tar --numeric-owner --xattrs -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  cleanup_rootfs
  trap - EXIT
fi

# buildah with its own storage under the cache: nothing of the machine's containers is touched.
B=(buildah --root "$cache/storage" --runroot "$cache/run" --storage-driver vfs)
export BUILDAH_ISOLATION=chroot
# Working containers a killed earlier run left behind (each a full copy of a filesystem).
"${B[@]}" rm --all >/dev/null 2>&1 || true

# ── 2. Import the tarball as the Dockerfile's base (again only when the tarball changed) ──
sum=$(sha256sum "$tarball" | cut -c1-64)
have=$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "stagecoach.ci.rootfs"}}' \
  "$base" 2>/dev/null || true)
if [ "$have" != "$sum" ]; then
  say "importing $tarball as $base"
  ctr=$("${B[@]}" from scratch)
  "${B[@]}" add --quiet "$ctr" "$tarball" / >/dev/null
  "${B[@]}" config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label "stagecoach.ci.rootfs=$sum" "$ctr"
  "${B[@]}" commit --quiet --rm "$ctr" "$base" >/dev/null
fi

# ── 3. Build the Dockerfile as it is ─────────────────────────────────────────────────────
say "buildah build --pull=never --isolation chroot (vfs), STAGECOACH_BIN=$bin"
# No --layers: with vfs every cached step is a full copy of the filesystem, and measured here
# a fully cached build (3m17s) was slower than building without a cache (1m44s).
"${B[@]}" rmi "$image" >/dev/null 2>&1 || true
"${B[@]}" build --quiet --pull=never --isolation chroot --layers=false \
  --build-arg "STAGECOACH_BIN=$bin" -f Dockerfile -t "$image" . >"$cache/build.log" 2>&1 ||
  fail "buildah build failed; last lines of $cache/build.log: $(tail -n 8 "$cache/build.log" | tr '\n' ' ')"
# The untagged base of an earlier tarball and the like: each vfs layer is a full copy.
"${B[@]}" rmi --prune >/dev/null 2>&1 || true

# ── 4. What the image is, and the bot running in it ──────────────────────────────────────
expect_config() {
  local what=$1 format=$2 want=$3 got
  got=$("${B[@]}" inspect --type image --format "$format" "$image") || fail "cannot inspect $image"
  [ "$got" = "$want" ] || fail "image $what is $got, expected $want"
}
expect_config user '{{.OCIv1.Config.User}}' '10001:10001'
# (Go template output: buildah 1.28's --format has no `json` function.)
expect_config entrypoint '{{.OCIv1.Config.Entrypoint}}' '[/usr/local/bin/stagecoach]'
expect_config 'default args' '{{.OCIv1.Config.Cmd}}' '[serve --config /etc/stagecoach/stagecoach.yaml]'
expect_config 'exposed ports' '{{.OCIv1.Config.ExposedPorts}}' 'map[8080/tcp:{}]'
expect_config volumes '{{.OCIv1.Config.Volumes}}' 'map[/var/cache/stagecoach:{}]'

ctr=$("${B[@]}" from --pull=never --quiet "$image")
trap '"${B[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
in_image() { "${B[@]}" run --isolation chroot "$ctr" -- "$@"; }

uid=$(in_image id -u)
[ "$uid" != 0 ] || fail "the image runs as root"
in_image test -w /var/cache/stagecoach || fail "/var/cache/stagecoach is not writable by uid $uid"
version=$(in_image stagecoach --version) || fail "stagecoach --version failed in the image"
say "in the image (uid $uid): $version"
# Gate and health commands run as `sh -c`, and git must be there for them too.
in_image sh -c 'git --version' >/dev/null || fail "sh or git is missing from the image"
if ! in_image stagecoach demo >"$cache/demo.log" 2>&1; then
  fail "stagecoach demo failed in the image; last lines of $cache/demo.log: $(tail -n 8 "$cache/demo.log" | tr '\n' ' ')"
fi
say "in the image: $(grep -E '^Demo complete' "$cache/demo.log" || tail -n 1 "$cache/demo.log")"
say "ok: $image built from Dockerfile; --version and the demo pass inside it"
