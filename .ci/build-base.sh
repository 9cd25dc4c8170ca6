#!/usr/bin/env bash
# Make the Debian bookworm base image that stands in for python:3.11-slim-bookworm where no
# container registry is reachable: mmdebstrap from Debian packages, then `podman import`.
#
#   bash build-base.sh [TARBALL] [IMAGE]     # defaults: var/cutout-base.tar localhost/cutout-base:bookworm
#
# Kept small like the public slim image (129 MB): minbase, merged /usr made by mmdebstrap's hook
# instead of the usrmerge package (which drags in perl, 46 MB), no docs, man pages or locales.
# The host's locally added CA certificates (/usr/local/share/ca-certificates) are trusted in the
# image too, and pip and npm are told to use the system bundle: on a network that inspects TLS
# with its own CA, pip and npm in the build would otherwise fail with CERTIFICATE_VERIFY_FAILED.
set -euo pipefail
TARBALL=${1:-var/cutout-base.tar}
IMAGE=${2:-localhost/cutout-base:bookworm}
PACKAGES=python3.11,python3.11-venv,ca-certificates
mkdir -p "$(dirname "$TARBALL")"

hooks=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  hooks+=(--customize-hook='sync-in /usr/local/share/ca-certificates /usr/local/share/ca-certificates'
          --customize-hook='chroot "$1" update-ca-certificates --fresh >/dev/null')
fi

nice -n 10 mmdebstrap --variant=minbase --quiet \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include="$PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  "${hooks[@]}" \
  bookworm "$TARBALL"

bundle=/etc/ssl/certs/ca-certificates.crt
podman import \
  --change "ENV PIP_CERT=$bundle" \
  --change "ENV NODE_EXTRA_CA_CERTS=$bundle" \
  --change "ENV LANG=C.UTF-8" \
  --change 'CMD ["/bin/bash"]' \
  "$TARBALL" "$IMAGE" >/dev/null
echo "$IMAGE from $TARBALL ($(du -h "$TARBALL" | cut -f1))"
