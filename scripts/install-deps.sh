#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests, the demo and the benchmarks use.
# Safe to run again: it installs only what is missing. Maven fetches the Java dependencies during the build.
set -euo pipefail
packages=(maven zstd b3sum erofs-utils squashfs-tools squashfuse fuse3 attr acl tar gzip
    debootstrap skopeo umoci docker-registry apache2-utils openssl libarchive-tools git
    libcap2-bin python3 hyperfine util-linux bc time containerd runc stargz-snapshotter
    busybox-static iproute2 nftables socat iptables gcc libc6-dev libnetfilter-queue-dev jq
    curl procps gnuplot-nox cryptsetup-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ! -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
    echo "error: Temurin 25 is expected at /usr/lib/jvm/temurin-25-jdk-amd64" >&2
    exit 1
fi
