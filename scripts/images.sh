#!/usr/bin/env bash
# Builds one of the two images that the start measurements use and prints the path of its OCI
# image layout as the last line on stdout, with the image tagged by the name given. Progress,
# with the time each step took, goes to stderr.
#
#   node  Debian bookworm (debootstrap --variant=minbase), Debian's nodejs and npm, and an
#         application under /app whose dependencies come from images/node-app/package-lock.json
#         (npm ci). Layers: rootfs, apt packages, /app manifests, /app/node_modules,
#         /app/index.js. Default command: node -v.
#   jdk   The same rootfs, ca-certificates and tzdata from apt, and the Temurin 25 JDK under
#         /opt/java/openjdk with links in /usr/local/bin. Default command: java -version.
#
# Images are cached in ${NYDUS_IMAGE_CACHE:-/var/tmp/nydus-images}/v<N>/<name>. There, oci/ is
# the layout, and build.env records the build date, build time and sizes as shell assignments.
# program-output.txt is the output of the default command run in a chroot of the unpacked image.
# A build runs in <name>.partial and is renamed when complete, so an interrupted build leaves
# no cache entry, and the next build removes the partial one. Step logs go to logs/.
#
# The rootfs is the one that scripts/demo.sh caches (${NYDUS_DEMO_CACHE:-/var/tmp/nydus-demo})
# when present, else debootstrap makes one in the cache.
#
# To change the Node application's dependencies, edit images/node-app/package.json. Then
# regenerate the lock file with the npm of the image (npm 9.2 on Node 18) by running
# `npm install --ignore-scripts` in /app of a chroot of the unpacked image. Copy
# package-lock.json back and raise content_version below.
#
# Needs root (chroot, mount), umoci, tar, python3, debootstrap if no rootfs is cached, and
# deb.debian.org and registry.npmjs.org for a cold build; scripts/install-deps.sh installs the
# packages.
set -euo pipefail

usage() {
    echo "usage: $0 node|jdk" >&2
    exit 2
}
[[ $# -eq 1 ]] || usage
name="$1"
case "${name}" in node | jdk) ;; *) usage ;; esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Raise when what an image contains changes, so that the next call builds a new cache entry.
content_version=1
cache_root="${NYDUS_IMAGE_CACHE:-/var/tmp/nydus-images}"
cache="${cache_root}/v${content_version}"
dest="${cache}/${name}"
partial="${dest}.partial"
logs="${cache}/logs"
layout="${partial}/oci"
bundle="${partial}/bundle"
rootfs="${bundle}/rootfs"
demo_rootfs="${NYDUS_DEMO_CACHE:-/var/tmp/nydus-demo}/rootfs"
jdk_home=/usr/lib/jvm/temurin-25-jdk-amd64
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Paths whose changes no layer records, because they are build scratch space or the resolver
# configuration that the build copies in from the host.
mask_paths=(/tmp /root/.npm /etc/resolv.conf)

log() { printf '[images %s] %s\n' "${name}" "$*" >&2; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
mib() { printf '%.1f' "$(echo "$1 / 1048576" | bc -l)"; }

print_cached() {
    local built
    built=$(sed -n 's/^BUILT_AT=//p' "${dest}/build.env")
    log "reusing the image built at ${built} (${dest})"
    echo "${dest}/oci"
}

if [[ -f "${dest}/build.env" ]]; then
    print_cached
    exit 0
fi

# Checks the tools and inputs of a cold build before anything is written.
check_requirements() {
    if [[ ${EUID} -ne 0 ]]; then
        echo "error: building the ${name} image needs root (chroot, mount)" >&2
        exit 1
    fi
    local tool
    for tool in umoci tar gzip python3 chroot flock findmnt mountpoint bc; do
        if ! command -v "${tool}" >/dev/null; then
            echo "error: ${tool} not found; run scripts/install-deps.sh" >&2
            exit 1
        fi
    done
    if [[ "${name}" == jdk && ! -x "${jdk_home}/bin/java" ]]; then
        echo "error: the Temurin 25 JDK was not found at ${jdk_home}; install it there" >&2
        exit 1
    fi
}

# Runs a step with its output in logs/<name>-<id>.log and stops the build when it fails,
# naming the step and the log.
run_step() {
    local id="$1" description="$2"
    shift 2
    local step_log="${logs}/${name}-${id}.log" start
    start=$(now)
    log "${description} (log: ${step_log})"
    # A function called as an if condition would run with errexit off, so the step runs in a
    # subshell of its own with errexit on. Variables that a step sets stay in that subshell.
    set +e
    (
        set -e
        "$@"
    ) >"${step_log}" 2>&1
    local status=$?
    set -e
    if ((status != 0)); then
        echo "error: step '${description}' of the ${name} image failed; the end of" \
            "${step_log}:" >&2
        tail -n 25 "${step_log}" | sed 's/^/    /' >&2
        exit 1
    fi
    log "  done in $(since "${start}") s"
}

# Lists the mount points below a directory, deepest first.
mounts_below() {
    findmnt -rn -o TARGET | awk -v prefix="$1/" 'index($0, prefix) == 1' | sort -r
}

# Removes a directory tree, but only once nothing is mounted below it, so that rm -rf never
# reaches into a mounted file system.
remove_tree() {
    local target
    for target in $(mounts_below "$1"); do
        umount "${target}" || umount -l "${target}" || true
    done
    if [[ -n "$(mounts_below "$1")" ]]; then
        echo "error: a file system is still mounted below $1; unmount it and remove the" \
            "directory by hand" >&2
        return 1
    fi
    rm -rf "$1"
}

# Unmounts what an unfinished build mounted and removes it.
cleanup() {
    if [[ -n "${seed:-}" ]]; then
        remove_tree "${seed}.partial" || true
    fi
    remove_tree "${partial}" || true
}

# Runs a command in the chroot with a clean environment, passing on the host's proxy settings.
in_chroot() {
    local environment=(PATH="${image_path}" HOME=/root LANG=C.UTF-8
        DEBIAN_FRONTEND=noninteractive)
    local variable
    for variable in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        if [[ -n "${!variable:-}" ]]; then
            environment+=("${variable}=${!variable}")
        fi
    done
    env -i "${environment[@]}" chroot "${rootfs}" "$@"
}

# Sets seed to the Debian rootfs that both images start from, making it with debootstrap when
# none is cached.
seed_rootfs() {
    if [[ -f "${demo_rootfs}/etc/os-release" ]]; then
        seed="${demo_rootfs}"
        return
    fi
    seed="${cache_root}/rootfs"
    exec 8>"${cache_root}/rootfs.lock"
    flock 8
    if [[ ! -f "${seed}/etc/os-release" ]]; then
        remove_tree "${seed}.partial"
        run_step debootstrap "making a Debian bookworm rootfs with debootstrap" \
            debootstrap --variant=minbase bookworm "${seed}.partial" "${mirror}"
        mv "${seed}.partial" "${seed}"
    fi
    flock -u 8
}

# Adds the rootfs as the first layer, then unpacks the image into the bundle. GNU tar leaves out
# access and change times, so that the same rootfs always gives the same layer digest.
add_base_layer() {
    tar --format=posix --pax-option=delete=atime,delete=ctime --xattrs --xattrs-include='*' \
        --numeric-owner --sort=name -C "${seed}" -cf "${partial}/base.tar" .
    umoci init --layout "${layout}"
    umoci new --image "${layout}:${name}"
    umoci raw add-layer --image "${layout}:${name}" \
        --history.created_by "debootstrap --variant=minbase bookworm" "${partial}/base.tar"
    rm "${partial}/base.tar"
    umoci unpack --image "${layout}:${name}" "${bundle}"
}

# Records the changes of the bundle's rootfs since the last layer as a new layer.
commit_layer() {
    local argv=(umoci repack --refresh-bundle --image "${layout}:${name}"
        --history.created_by "$1")
    local path
    for path in "${mask_paths[@]}"; do
        argv+=(--mask-path "${path}")
    done
    "${argv[@]}" "${bundle}"
}

apt_install() {
    cat >"${rootfs}/etc/apt/sources.list" <<SOURCES
deb ${mirror} bookworm main
deb ${mirror} bookworm-updates main
deb ${security_mirror} bookworm-security main
SOURCES
    rm -f "${rootfs}/etc/resolv.conf"
    cp /etc/resolv.conf "${rootfs}/etc/resolv.conf"
    mount -t proc proc "${rootfs}/proc"
    in_chroot apt-get update
    in_chroot apt-get install -y --no-install-recommends "$@"
    in_chroot apt-get clean
    umount "${rootfs}/proc"
    rm -rf "${rootfs}"/var/lib/apt/lists/*
    commit_layer "apt-get install --no-install-recommends $*"
}

copy_app_manifests() {
    mkdir -p "${rootfs}/app"
    cp "${root}/images/node-app/package.json" "${root}/images/node-app/package-lock.json" \
        "${rootfs}/app/"
    commit_layer "COPY package.json package-lock.json /app/"
}

# Runs npm ci in the chroot. npm trusts the host's CA bundle too, so that a TLS proxy that the
# host trusts also works for the chroot.
npm_ci() {
    local scratch=/tmp/nydus-npm
    local host_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
    local npm_environment=()
    mkdir -p "${rootfs}${scratch}"
    if [[ -f "${host_ca}" ]]; then
        cp "${host_ca}" "${rootfs}${scratch}/host-ca.crt"
        npm_environment+=(NODE_EXTRA_CA_CERTS="${scratch}/host-ca.crt")
    fi
    rm -f "${rootfs}/etc/resolv.conf"
    cp /etc/resolv.conf "${rootfs}/etc/resolv.conf"
    in_chroot env "${npm_environment[@]}" sh -c "cd /app && npm ci --ignore-scripts \
        --no-audit --no-fund --update-notifier=false --cache ${scratch}/cache"
    rm -rf "${rootfs}${scratch}"
    commit_layer "npm ci --ignore-scripts"
}

copy_app_source() {
    cp "${root}/images/node-app/index.js" "${rootfs}/app/index.js"
    commit_layer "COPY index.js /app/"
}

# Copies the JDK and links its programs into /usr/local/bin, as Debian's alternatives do.
copy_jdk() {
    mkdir -p "${rootfs}/opt/java"
    cp -a "${jdk_home}" "${rootfs}/opt/java/openjdk"
    local program
    for program in "${rootfs}"/opt/java/openjdk/bin/*; do
        ln -s "/opt/java/openjdk/bin/${program##*/}" "${rootfs}/usr/local/bin/${program##*/}"
    done
    commit_layer "COPY temurin-25-jdk /opt/java/openjdk"
}

configure_image() {
    local argv=(umoci config --image "${layout}:${name}" --history.created_by "umoci config")
    if [[ "${name}" == node ]]; then
        argv+=(--config.env "PATH=${image_path}" --config.workingdir /app
            --config.cmd node --config.cmd -v)
    else
        argv+=(--config.env "PATH=/opt/java/openjdk/bin:${image_path}"
            --config.env JAVA_HOME=/opt/java/openjdk --config.cmd java
            --config.cmd -version)
    fi
    "${argv[@]}"
    # Repacks and config changes leave the manifests and configs they replaced behind.
    umoci gc --layout "${layout}"
}

# Unpacks the finished image afresh, runs its default command in a chroot, and writes the
# digest, compressed size and tar size of each layer to layers.txt.
verify_image() {
    local check="${partial}/check"
    remove_tree "${bundle}"
    umoci unpack --image "${layout}:${name}" "${check}"
    local program=(node -v)
    [[ "${name}" == jdk ]] && program=(java -version)
    # The JDK's launcher finds its libraries through /proc/self/exe, so /proc is mounted as in a
    # container.
    mount -t proc proc "${check}/rootfs/proc"
    rootfs="${check}/rootfs" in_chroot "${program[@]}" >"${partial}/program-output.txt" 2>&1 \
        || { cat "${partial}/program-output.txt"; return 1; }
    umount "${check}/rootfs/proc"
    cat "${partial}/program-output.txt"
    remove_tree "${check}"
    local digest size
    python3 - "${layout}" "${name}" <<'PYTHON' | while read -r digest size; do
import json, sys
layout, tag = sys.argv[1], sys.argv[2]
index = json.load(open(f"{layout}/index.json"))
entry = next(m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(f"{layout}/blobs/sha256/{entry['digest'][7:]}"))
for layer in manifest["layers"]:
    print(layer["digest"][7:], layer["size"])
PYTHON
        echo "${digest} ${size} $(gzip -dc "${layout}/blobs/sha256/${digest}" | wc -c)"
    done >"${partial}/layers.txt"
}

# Writes build.env from layers.txt and the build's start time.
write_build_record() {
    local column2 column3 compressed tar_size
    column2=$(awk '{ print $2 }' "${partial}/layers.txt" | paste -sd ' ')
    column3=$(awk '{ print $3 }' "${partial}/layers.txt" | paste -sd ' ')
    compressed=$(awk '{ total += $2 } END { print total }' "${partial}/layers.txt")
    tar_size=$(awk '{ total += $3 } END { print total }' "${partial}/layers.txt")
    cat >"${partial}/build.env" <<RECORD
BUILT_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
BUILD_SECONDS=$(since "${build_start}")
IMAGE=${name}
CONTENT_VERSION=${content_version}
PROGRAM="$([[ "${name}" == node ]] && echo 'node -v' || echo 'java -version')"
LAYERS=$(wc -l <"${partial}/layers.txt")
LAYER_BYTES="${column2}"
LAYER_TAR_BYTES="${column3}"
COMPRESSED_BYTES=${compressed}
UNCOMPRESSED_BYTES=${tar_size}
RECORD
    rm "${partial}/layers.txt"
}

check_requirements
mkdir -p "${cache}" "${logs}"
exec 9>"${cache}/${name}.lock"
if ! flock -n 9; then
    log "waiting for another build of this image to finish"
    flock 9
fi
if [[ -f "${dest}/build.env" ]]; then
    print_cached
    exit 0
fi
trap cleanup EXIT
trap 'exit 130' INT TERM
build_start=$(now)
remove_tree "${partial}"
mkdir -p "${partial}"

seed_rootfs
run_step base "adding the rootfs ${seed} as the first layer" add_base_layer
if [[ "${name}" == node ]]; then
    run_step apt "installing nodejs and npm with apt" apt_install nodejs npm
    run_step manifests "adding /app/package.json and package-lock.json" copy_app_manifests
    run_step npm "installing the application's dependencies with npm ci" npm_ci
    run_step source "adding /app/index.js" copy_app_source
else
    run_step apt "installing ca-certificates and tzdata with apt" \
        apt_install ca-certificates tzdata
    run_step jdk "adding the Temurin 25 JDK under /opt/java/openjdk" copy_jdk
fi
run_step config "setting the image's environment and default command" configure_image
run_step verify "running the default command in the unpacked image, measuring layers" \
    verify_image
write_build_record
mv "${partial}" "${dest}"

# shellcheck source=/dev/null
source "${dest}/build.env"
log "program output: $(head -n 1 "${dest}/program-output.txt")"
log "${LAYERS} layers, $(mib "${COMPRESSED_BYTES}") MiB compressed, $(mib "${UNCOMPRESSED_BYTES}")" \
    "MiB as tar; built in ${BUILD_SECONDS} s"
echo "${dest}/oci"
