#!/usr/bin/env bash
# Build the Debian bookworm base image of the single-user image without any registry:
#   debootstrap --variant=minbase → chroot: apt-get install a minimal set → tar | docker import.
#
# Usage: images/base/build-base.sh [--force] [--tag NAME:TAG] [--tar FILE] [--mirror URL]
#   --force        rebuild even when the image already exists
#   --tag          image name (default: $BASE_IMAGE or datazentr/base:bookworm)
#   --tar FILE     write the root filesystem tarball to FILE instead of importing it
#                  (hub/docker_images.py imports it through the Docker API)
#   --mirror URL   Debian mirror (default: $DEBIAN_MIRROR or http://deb.debian.org/debian)
#
# Needs root, debootstrap and (unless --tar) the docker CLI; DOCKER_HOST is honoured.
# The host's local CA certificates (/usr/local/share/ca-certificates/*) are trusted inside
# the image too, so HTTPS through an intercepting proxy keeps working in `docker build`.
set -euo pipefail

TAG="${BASE_IMAGE:-datazentr/base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
FORCE=0
TAR_OUT=""
# What every later layer needs: Python with venv, git (jupyterlab-git), CA certificates,
# procps (ps/top in terminals), tini (PID 1 that reaps zombies), less for git's pager.
PACKAGES=(python3 python3-venv ca-certificates git procps tini less)
# Keep in sync with BASE_IMAGE_CHANGES in hub/docker_images.py.
CHANGES=(--change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]')

log() { printf '[build-base %3ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'build-base: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --tag) TAG="${2:?--tag needs a value}"; shift ;;
    --tar) TAR_OUT="${2:?--tar needs a file}"; shift ;;
    --mirror) MIRROR="${2:?--mirror needs a URL}"; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot); run it with sudo"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap (make system-deps)"
if [ -z "$TAR_OUT" ]; then
  command -v docker >/dev/null || die "the docker CLI is missing: apt-get install docker.io (make system-deps)"
  if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG exists; nothing to do (--force rebuilds it)"
    exit 0
  fi
fi

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/datazentr-base.XXXXXX")"
ROOTFS="$WORK/rootfs"

unmount_all() {
  # Deepest first; lazy as a last resort so a busy /dev never blocks cleanup.
  local mnt
  for mnt in "$ROOTFS/dev/pts" "$ROOTFS/dev" "$ROOTFS/proc" "$ROOTFS/sys"; do
    if mountpoint -q "$mnt" 2>/dev/null; then
      umount "$mnt" 2>/dev/null || umount -l "$mnt"
    fi
  done
}

cleanup() {
  unmount_all
  if grep -q " $ROOTFS" /proc/mounts; then
    # Never delete through a mount of the host's /dev or /proc.
    printf 'build-base: %s still has mounts; left in place\n' "$WORK" >&2
    return
  fi
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "debootstrap --variant=minbase $SUITE from $MIRROR into $ROOTFS"
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  die "debootstrap failed (log above)"
}
log "debootstrap done ($(du -sh "$ROOTFS" | cut -f1))"

log "configuring the chroot"
# Slim like Debian's own container images: no docs, man pages or translations.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-datazentr-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/01-datazentr" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
# No daemon may start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  cp -r /usr/local/share/ca-certificates/. "$ROOTFS/usr/local/share/ca-certificates/"
fi
# Until the ca-certificates package regenerates it, apt over HTTPS uses the host's bundle.
mkdir -p "$ROOTFS/etc/ssl/certs"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi

mount -t proc proc "$ROOTFS/proc"
mount --bind /dev "$ROOTFS/dev"
in_chroot() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

log "apt-get install ${PACKAGES[*]}"
{
  in_chroot apt-get update -qq
  in_chroot apt-get upgrade -y -qq
  in_chroot apt-get install -y -qq "${PACKAGES[@]}"
  in_chroot update-ca-certificates
} >"$WORK/apt.log" 2>&1 || {
  tail -n 30 "$WORK/apt.log" >&2
  die "installing packages in the chroot failed (log above)"
}
log "packages installed"

log "cleaning the root filesystem"
in_chroot apt-get clean
unmount_all
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/debconf/*-old \
  "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/root/.cache
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
# Docker provides these at run time.
: >"$ROOTFS/etc/resolv.conf"
: >"$ROOTFS/etc/hostname"
log "root filesystem ready ($(du -sh "$ROOTFS" | cut -f1))"

if [ -n "$TAR_OUT" ]; then
  log "writing $TAR_OUT"
  tar -C "$ROOTFS" --numeric-owner -cf "$TAR_OUT" .
  log "done: $TAR_OUT"
else
  log "docker import → $TAG"
  tar -C "$ROOTFS" --numeric-owner -c . | docker import "${CHANGES[@]}" - "$TAG" >/dev/null
  log "done: $TAG ($(docker image inspect --format '{{.Size}}' "$TAG" | numfmt --to=iec) )"
fi
