#!/usr/bin/env bash
# Installs what the kind provider and the node-image builder need on a Debian
# host: Podman (with runc), debootstrap for the node's OS layer, libseccomp-dev
# and pkg-config for runc's seccomp build, busybox-static for the utility
# image, dnsname so kind nodes resolve each other on Podman's CNI network.
# Must run as root. Idempotent.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
	echo "hack/kind/install-deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
# golang-github-containernetworking-plugin-dnsname gives the kind network DNS
# (with the CNI backend), so nodes resolve each other by container name.
pkgs=(podman runc golang-github-containernetworking-plugin-dnsname debootstrap libseccomp-dev pkg-config gcc busybox-static uidmap iptables)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# kind always bind-mounts /lib/modules from the host.
mkdir -p /lib/modules

# Every kind node runs systemd, and each of its units' watchers takes an
# inotify instance from the host's per-user budget (Debian's default 128).
# Two clusters of four nodes exhaust it: systemd in the next node then logs
# "Failed to create inotify object: Too many open files" and never starts
# kubelet. Raise the budget to kind's documented values when it is lower
# (the running kernel only; nothing is written to /etc).
raise() {
	local key=$1 want=$2 have
	have=$(sysctl -n "$key")
	if [ "$have" -lt "$want" ]; then
		sysctl -qw "$key=$want"
	fi
}
raise fs.inotify.max_user_instances 512
raise fs.inotify.max_user_watches 524288
