#!/usr/bin/env bash
# Installs the Nydus snapshotter on a node: the built jar and launchers under $PREFIX, links in
# /usr/local/bin, default configs in /etc/nydus (existing files are kept) and a systemd unit.
# Run it as root from a checkout. It builds the jar first unless --no-build is given.
# DESTDIR installs into a staging directory instead of /.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-/opt/nydus-java}"
dest="${DESTDIR:-}"
build=1
for arg in "$@"; do
    case "${arg}" in
        --no-build) build=0 ;;
        *) echo "error: unknown option '${arg}'; usage: $0 [--no-build]" >&2; exit 2 ;;
    esac
done
if (( build )); then
    (cd "${repo}" && JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 \
        MAVEN_OPTS=--sun-misc-unsafe-memory-access=allow mvn -q -B -DskipTests package)
fi
jar="${repo}/nydus-cli/target/nydus.jar"
if [[ ! -f "${jar}" ]]; then
    echo "error: ${jar} is missing; run without --no-build" >&2
    exit 1
fi
install -d "${dest}${prefix}/bin" "${dest}${prefix}/nydus-cli/target" "${dest}/usr/local/bin" \
    "${dest}/etc/nydus" "${dest}/etc/systemd/system"
install -m 0644 "${jar}" "${dest}${prefix}/nydus-cli/target/nydus.jar"
for tool in launcher.sh containerd-nydus-grpc nydus-snapshotter nydusd nydusctl nydus-image \
        nydusify; do
    install -m 0755 "${repo}/bin/${tool}" "${dest}${prefix}/bin/${tool}"
done
for tool in containerd-nydus-grpc nydus-snapshotter nydusd nydusctl nydus-image nydusify; do
    ln -sfn "${prefix}/bin/${tool}" "${dest}/usr/local/bin/${tool}"
done
# A CDS archive matches only the jar path it was recorded for, so the installed jar needs its
# own. Archives of an earlier install would not match the new jar.
install -d "${dest}${prefix}/scripts"
install -m 0755 "${repo}/scripts/cds-archives.sh" "${dest}${prefix}/scripts/cds-archives.sh"
rm -rf "${dest}${prefix}/nydus-cli/target/cds"
if [[ -z "${dest}" ]]; then
    echo "recording the CDS archives of the installed tools (about 15 s)..." >&2
    "${prefix}/scripts/cds-archives.sh"
else
    echo "no CDS archives under DESTDIR: run ${prefix}/scripts/cds-archives.sh once the" \
        "files are in place, or the tools start without them" >&2
fi
for config in config.toml nydusd-config.fusedev.json; do
    if [[ ! -e "${dest}/etc/nydus/${config}" ]]; then
        install -m 0644 "${repo}/misc/snapshotter/${config}" "${dest}/etc/nydus/${config}"
    else
        echo "keeping existing /etc/nydus/${config}" >&2
    fi
done
install -m 0644 "${repo}/misc/snapshotter/nydus-snapshotter.service" \
    "${dest}/etc/systemd/system/nydus-snapshotter.service"
echo "installed; next: add misc/snapshotter/containerd-config.toml to containerd's config," >&2
echo "then: systemctl daemon-reload && systemctl enable --now nydus-snapshotter" >&2
echo "      && systemctl restart containerd" >&2
