#!/usr/bin/env bash
# Build the project's container images with podman, without any registry:
#   localhost/clix-base:bookworm         Debian bookworm from debootstrap (python3, pymongo, snowballstemmer, psql)
#   localhost/clix-derive:latest         containers/derive/Dockerfile on that base (clix_derive, clix_imports.py
#                                        and the module_utils it imports: filter_plugins/clix.py DERIVE_SOURCES);
#                                        CLIX_DERIVE_IMAGE=<tag> names it otherwise (a checkout's own tests)
#   localhost/clix-gstudio-standin:latest  the test fleet's stand-in gStudio container
# The base is built once (its rootfs tar is cached in .cache/rootfs); the others in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
base=localhost/clix-base:bookworm
# What clix_derive needs, from Debian (the builds below run without network). A change to this
# list gives a new rootfs tarball and base image.
packages=python3,python3-pymongo,python3-snowballstemmer,postgresql-client
tarball=.cache/rootfs/bookworm-clix-$(printf %s "$packages" | sha256sum | cut -c1-12).tar
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "$(podman image inspect --format '{{index .Labels "clix.base.packages"}}' "$base" 2>/dev/null)" != "$packages" ]; then
  if [ ! -s "$tarball" ]; then
    echo "images: debootstrap of Debian bookworm (once, about a minute)"
    rm -rf "$tarball.d" && mkdir -p .cache/rootfs
    debootstrap --variant=minbase --include="$packages" bookworm "$tarball.d" "$mirror" >"$tarball.log"
    tar -C "$tarball.d" -c . >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
    rm -rf "$tarball.d"
  fi
  podman import -q --change 'CMD ["/bin/bash"]' --change "LABEL clix.base.packages=$packages" "$tarball" "$base" >/dev/null
fi
# The Python packages Debian does not give in the versions clix_derive needs (containers/derive/requirements.txt).
wheels=containers/derive/wheels
if ! ls "$wheels"/Unidecode-1.0.22-*.whl >/dev/null 2>&1; then
  mkdir -p "$wheels"
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
    -r containers/derive/requirements.txt -d "$wheels" \
    || { echo "images: cannot download containers/derive/requirements.txt's wheels: connect to PyPI once" >&2; exit 1; }
fi
# The image is labelled with the digest of the code it carries; derive.yml refuses a stale image.
# (The filter plugin imports Ansible: the project's venv runs it.)
python=.venv/bin/python
[ -x "$python" ] || python=python3
source_digest=$("$python" -c 'import sys; sys.path.insert(0, "filter_plugins"); import clix; print(clix.clix_derive_digest("."))')
podman build -q --network none --build-arg BASE="$base" --label "clix.derive.source=$source_digest" \
  -t "${CLIX_DERIVE_IMAGE:-localhost/clix-derive:latest}" \
  -f containers/derive/Dockerfile . >/dev/null
podman build -q --network none -t localhost/clix-gstudio-standin:latest -f fleet/standin/Containerfile . >/dev/null
echo "images: ${CLIX_DERIVE_IMAGE:-localhost/clix-derive:latest}, localhost/clix-gstudio-standin:latest"
