#!/usr/bin/env bash
# Cross-builds edgenode and edgesim for linux/arm64 with cgo (libvpx) and
# installs what that needs on demand.
#
#   hack/cross.sh deps        install the arm64 toolchain, arm64 libvpx and
#                             qemu-user (as root; else prints the command)
#   hack/cross.sh check       say which of those packages are missing
#   hack/cross.sh build DIR [CMD...]
#                             build DIR/edgenode and DIR/edgesim (or only the
#                             commands named) for arm64; installs nothing,
#                             says what is missing
#
# Idempotent: with everything installed, deps touches nothing. The model is
# embedded (go:embed in runtime/models) as on amd64.
set -euo pipefail
out=""
cmds=(edgenode edgesim)
if [ "${1:-}" = build ]; then
  out=$(realpath -m "${2:?usage: hack/cross.sh build DIR [edgenode|edgesim...]}")
  [ $# -gt 2 ] && cmds=("${@:3}")
fi
cd "$(dirname "$0")/.."
ARCH=arm64
TRIPLET=aarch64-linux-gnu
PACKAGES=(gcc-$TRIPLET libc6-dev:$ARCH libvpx-dev:$ARCH qemu-user)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
install="dpkg --add-architecture $ARCH && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"

check() {
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "arm64 builds need these Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo go tool task cross-deps   (runs: $install)" >&2
  exit 1
}

deps() {
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -ne 0 ] && check
  echo "installing ${missing[*]}" >&2
  sh -c "$install" >&2
}

build() {
  check
  mkdir -p "$out"
  export GOOS=linux GOARCH=$ARCH CGO_ENABLED=1 CC=$TRIPLET-gcc
  # Only the arm64 .pc files: the amd64 ones would hand the linker amd64 libvpx.
  export PKG_CONFIG_LIBDIR=/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH=
  for cmd in "${cmds[@]}"; do
    go build -o "$out/$cmd" "./cmd/$cmd"
  done
}

case "${1:-}" in
  deps) deps ;;
  check) check ;;
  build) build ;;
  *) echo "usage: hack/cross.sh deps | check | build DIR [edgenode|edgesim...]" >&2; exit 2 ;;
esac
