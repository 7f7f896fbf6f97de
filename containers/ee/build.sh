#!/usr/bin/env bash
# Build the execution environment (localhost/clix-collect-ee:latest) with ansible-builder 3 and
# podman, from the project's own base image: every Python package comes from wheels downloaded
# here first, so the image build asks no index and no container registry (apt's Debian mirror
# gives rsync, openssh-client and git, as debootstrap gave the base).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
venv=.venv/bin
ctx="${EE_CONTEXT:-.cache/ee}"  # another context and tag build a second image beside the first
tag="${EE_TAG:-localhost/clix-collect-ee:latest}"
[ -f .cache/wheels/.done ] || bin/clix-wheels .cache/wheels
rm -rf "$ctx" && mkdir -p "$ctx"
cp containers/ee/execution-environment.yml containers/ee/requirements.txt "$ctx/"
# ansible-builder's own build steps need bindep, PyYAML, packaging and dumb-init besides ours.
"$venv/pip" download -q --disable-pip-version-check --only-binary=:all: -d "$ctx/wheels" \
  ansible-core==2.19.14 ansible-runner==2.4.3 bindep PyYAML packaging dumb-init==1.2.5 pip setuptools wheel \
  -r containers/ee/requirements.txt
cp -r .cache/wheels "$ctx/server-wheels"
rm -rf "$ctx/server-wheels/bundles"
"$venv/ansible-builder" create -f "$ctx/execution-environment.yml" -c "$ctx/context" >/dev/null
podman build -q -f "$ctx/context/Containerfile" -t "$tag" "$ctx/context" >"$ctx/build.log" 2>&1 \
  || { tail -30 "$ctx/build.log" >&2; exit 1; }
echo "ee: $tag"
