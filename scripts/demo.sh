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
trap cleanup EXIT
trap 'exit 130' INT TERM

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
source_bytes=$(find "${source_dir}" -type f -printf '%s\n' | paste -sd+ | bc)

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
output=$(chroot "${mnt}" /bin/bash -c \
    '. /etc/os-release; echo "$PRETTY_NAME"; echo "$(ls /usr/bin | wc -l) programs in /usr/bin"')
t4=$(seconds)
echo "${output}" >&2

step "comparing the mounted tree with the source: metadata, xattrs and contents"
# Type, mode, owner, size, nanosecond mtime, link count and symlink target of every entry but
# the root, whose mtime the builder sets to 0 as upstream's does. Directory sizes are left
# out, because each file system counts them its own way. Then every xattr and every file's
# contents.
listing() {
    (cd "$1" && {
        find . -mindepth 1 ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'
        find . -mindepth 1 -type d -printf '%p %y %m %U %G %T@ %n\n'
        getfattr -R -h -d -m - -e hex . 2>/dev/null \
            | awk '/^# file: /{f=substr($0, 9); next} NF {print f " " $0}'
    } | sort)
}
listing "${source_dir}" >"${work}/source.txt"
listing "${mnt}" >"${work}/mounted.txt"
if diff "${work}/source.txt" "${work}/mounted.txt" >"${work}/diff.txt" 2>&1 \
        && diff -r --no-dereference "${source_dir}" "${mnt}" >>"${work}/diff.txt" 2>&1; then
    same="yes"
else
    same="NO (see above)"
    head -20 "${work}/diff.txt" >&2
fi

blob_bytes=$(du -cb "${work}"/blobs/* | tail -1 | cut -f1)
boot_bytes=$(stat -c %s "${work}/image.boot")
files=$(find "${source_dir}" -type f | wc -l)
cat <<SUMMARY

Summary ($(nproc) cores, $(uname -r))
| what                         | value |
|------------------------------|-------|
| source tree                  | ${source_dir}, ${files} files, $((source_bytes / 1048576)) MiB of file data |
| bootstrap                    | $((boot_bytes / 1024)) KiB |
| data blob (compressed)       | $((blob_bytes / 1048576)) MiB |
| build time                   | $(elapsed "$t0" "$t1") s |
| check time (every chunk)     | $(elapsed "$t1" "$t2") s |
| export + kernel mount        | $(elapsed "$t2" "$t3") s |
| program run from the mount   | $(elapsed "$t3" "$t4") s |
| mounted tree equals source   | ${same} |
SUMMARY
