#!/usr/bin/env bash
# The main job, end to end on a real image: build the tools, make a Debian rootfs with
# debootstrap (cached between runs), push it as an OCI image to a registry on 127.0.0.1,
# convert it with nydusify, mount the Nydus image lazily with nydusify mount (FUSE, chunks
# fetched on demand), run a program from the mount, and print what the registry served and how
# long each step took. Then read the whole mounted tree and compare it with the source. Needs
# root (debootstrap, FUSE, chroot).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NYDUS_DEMO_CACHE:-/var/tmp/nydus-demo}"
work="$(mktemp -d /var/tmp/nydus-demo-run.XXXXXX)"
mnt="${work}/mnt"
registry_pid=""
mount_pid=""

cleanup() {
    if mountpoint -q "${mnt}" 2>/dev/null; then
        umount "${mnt}" || umount -l "${mnt}"
    fi
    if [[ -n "${mount_pid}" ]]; then wait "${mount_pid}" 2>/dev/null || true; fi
    if [[ -n "${registry_pid}" ]]; then kill "${registry_pid}" 2>/dev/null || true; fi
    if [[ -n "${registry_pid}" ]]; then wait "${registry_pid}" 2>/dev/null || true; fi
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*" >&2; }
seconds() { date +%s.%N; }
elapsed() { printf '%.2f' "$(echo "$2 - $1" | bc)"; }
mib() { printf '%.1f' "$(echo "$1 / 1048576" | bc -l)"; }

step "installing packages and building the tools"
bash "${root}/scripts/install-deps.sh"
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
(cd "${root}" && MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" \
    mvn -q -B -ntp -DskipTests install)

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

step "making an OCI image of the rootfs (GNU tar layer, umoci layout)"
tar --format=posix --xattrs --xattrs-include='*' --numeric-owner --sort=name \
    -C "${source_dir}" -cf "${work}/layer.tar" .
umoci init --layout "${work}/oci"
umoci new --image "${work}/oci:debian"
umoci raw add-layer --image "${work}/oci:debian" "${work}/layer.tar"
rm "${work}/layer.tar"
# umoci stores the layer gzip-compressed; it is the largest blob of the layout.
oci_bytes=$(find "${work}/oci/blobs" -type f -printf '%s\n' | sort -n | tail -1)

step "starting a registry on 127.0.0.1 (Debian's docker-registry, access log on)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "${work}/registry"
cat >"${work}/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${work}/registry
http:
  addr: 127.0.0.1:${port}
YAML
docker-registry serve "${work}/registry.yml" >"${work}/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:${port}/v2/" >/dev/null && break
    sleep 0.1
done
registry="127.0.0.1:${port}"
skopeo copy --quiet --dest-tls-verify=false "oci:${work}/oci:debian" \
    "docker://${registry}/demo/debian:v1"

step "converting the OCI image to a Nydus image with nydusify"
t0=$(seconds)
"${root}/bin/nydusify" convert --plain-http --source "${registry}/demo/debian:v1" \
    --target "${registry}/demo/debian:v1-nydus" --work-dir "${work}/convert" \
    --output-json "${work}/convert.json"
t1=$(seconds)

step "mounting the Nydus image lazily with nydusify mount (FUSE, chunks fetched on demand)"
log_lines=$(wc -l <"${work}/registry.log")
t2=$(seconds)
"${root}/bin/nydusify" mount --plain-http --target "${registry}/demo/debian:v1-nydus" \
    --mount-path "${mnt}" --work-dir "${work}/nydus" --apisock "${work}/nydusd.sock" \
    --log-level warn &
mount_pid=$!
for _ in $(seq 600); do
    mountpoint -q "${mnt}" && break
    kill -0 "${mount_pid}" 2>/dev/null || { echo "nydusify mount failed" >&2; exit 1; }
    sleep 0.05
done
t3=$(seconds)

step "running a program from the mounted image"
output=$(chroot "${mnt}" /bin/bash -c \
    '. /etc/os-release; echo "$PRETTY_NAME"; echo "$(ls /usr/bin | wc -l) programs in /usr/bin"')
t4=$(seconds)
echo "${output}" >&2
# The registry logs each request after it has sent the response; give it a moment.
sleep 0.5
# Bytes of blob responses (bootstrap layer and chunk ranges) since the mount started.
lazy_bytes=$(tail -n +"$((log_lines + 1))" "${work}/registry.log" \
    | awk '/"GET \/v2\/[^ ]*\/blobs\/sha256:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9][0-9][0-9]$/ && $(i + 1) ~ /^[0-9]+$/) { sum += $(i + 1); break } } END { print sum + 0 }')
lazy_requests=$(tail -n +"$((log_lines + 1))" "${work}/registry.log" \
    | grep -c '"GET /v2/[^ ]*/blobs/sha256:' || true)

step "reading the whole mounted tree and comparing it with the source"
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
metrics=$(curl -s --unix-socket "${work}/nydusd.sock" http://localhost/api/v1/metrics/backend)
total_fetched=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["read_amount_total"])' \
    "${metrics}" 2>/dev/null || echo 0)

files=$(find "${source_dir}" -type f | wc -l)
cat <<SUMMARY

Summary ($(nproc) cores, $(uname -r))
| what                                        | value |
|---------------------------------------------|-------|
| source tree                                 | ${files} files, $(mib "${source_bytes}") MiB of file data |
| OCI image (one gzip layer)                  | $(mib "${oci_bytes}") MiB |
| conversion time (nydusify convert)          | $(elapsed "$t0" "$t1") s |
| lazy mount time (manifest and bootstrap)    | $(elapsed "$t2" "$t3") s |
| program run from the mount                  | $(elapsed "$t3" "$t4") s |
| registry blob bytes for mount + program     | $(mib "${lazy_bytes}") MiB in ${lazy_requests} requests |
| of the OCI image's size                     | $(echo "100 * ${lazy_bytes} / ${oci_bytes}" | bc -l | xargs printf '%.1f') % |
| chunk bytes fetched for the full comparison | $(mib "${total_fetched}") MiB |
| mounted tree equals source                  | ${same} |
SUMMARY
[[ "${same}" == "yes" ]]
