#!/usr/bin/env bash
# The main job, end to end on a real image: build the tools, make a Debian rootfs with
# debootstrap (cached between runs), convert it to a Nydus image with nydus-image, check it,
# export it as an EROFS disk image, mount it with the kernel's EROFS driver, run a program from
# the mounted image, and print a summary. Needs root (debootstrap, mount, chroot).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NYDUS_DEMO_CACHE:-/var/tmp/nydus-demo}"
work="$(mktemp -d /var/tmp/nydus-demo-run.XXXXXX)"
mnt="${work}/mnt"

cleanup() {
    if mountpoint -q "${mnt}" 2>/dev/null; then
        umount "${mnt}" || umount -l "${mnt}"
    fi
    rm -rf "${work}"
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*" >&2; }
seconds() { date +%s.%N; }
elapsed() { printf '%.2f' "$(echo "$2 - $1" | bc)"; }

step "installing packages and building the tools"
bash "${root}/scripts/install-deps.sh"
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
(cd "${root}" && MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" \
    mvn -q -B -ntp -DskipTests package)
image_tool="${root}/bin/nydus-image"

step "preparing a Debian bookworm rootfs (debootstrap --variant=minbase, cached in ${cache})"
if [[ ! -f "${cache}/rootfs/etc/os-release" ]]; then
    rm -rf "${cache}/rootfs.partial"
    mkdir -p "${cache}"
    debootstrap --variant=minbase bookworm "${cache}/rootfs.partial" \
        http://deb.debian.org/debian >"${cache}/debootstrap.log" 2>&1 \
        || { tail -20 "${cache}/debootstrap.log" >&2; exit 1; }
    mv "${cache}/rootfs.partial" "${cache}/rootfs"
fi
source_dir="${cache}/rootfs"
source_bytes=$(du -sb "${source_dir}" | cut -f1)

step "building the Nydus image (zstd, blake3, 1 MiB chunks)"
t0=$(seconds)
"${image_tool}" create "${source_dir}" --bootstrap "${work}/image.boot" \
    --blob-dir "${work}/blobs" --output-json "${work}/build.json"
t1=$(seconds)

step "checking every structure and every chunk digest"
"${image_tool}" check --bootstrap "${work}/image.boot" --blob-dir "${work}/blobs"
t2=$(seconds)

step "exporting an EROFS disk image and mounting it with the kernel's EROFS driver"
"${image_tool}" export --block --bootstrap "${work}/image.boot" \
    --localfs-dir "${work}/blobs" --output "${work}/image.erofs"
mkdir -p "${mnt}"
mount -t erofs -o ro "${work}/image.erofs" "${mnt}"
t3=$(seconds)

step "running a program from the mounted image"
output=$(chroot "${mnt}" /bin/bash -c '. /etc/os-release; echo "$PRETTY_NAME"; ls /usr/bin | wc -l')
t4=$(seconds)
echo "${output}" >&2

step "comparing the mounted tree with the source"
if diff -r --no-dereference "${source_dir}" "${mnt}" >"${work}/diff.txt" 2>&1; then
    same="yes"
else
    same="NO (see below)"
    head -20 "${work}/diff.txt" >&2
fi

blob_bytes=$(du -cb "${work}"/blobs/* | tail -1 | cut -f1)
boot_bytes=$(stat -c %s "${work}/image.boot")
files=$(find "${source_dir}" -type f | wc -l)
cat <<SUMMARY

Summary ($(nproc) cores, $(uname -r))
| what                         | value |
|------------------------------|-------|
| source tree                  | ${source_dir}, ${files} files, $((source_bytes / 1048576)) MiB |
| bootstrap                    | $((boot_bytes / 1024)) KiB |
| data blob (compressed)       | $((blob_bytes / 1048576)) MiB |
| build time                   | $(elapsed "$t0" "$t1") s |
| check time (every chunk)     | $(elapsed "$t1" "$t2") s |
| export + kernel mount        | $(elapsed "$t2" "$t3") s |
| program run from the mount   | $(elapsed "$t3" "$t4") s |
| mounted tree equals source   | ${same} |
SUMMARY
