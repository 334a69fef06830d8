#!/bin/bash
# Fetch cloud-init's cloud-config JSON schema from the Debian cloud-init package into the validator
# cache, so tests can validate rendered #cloud-config parts offline. Usage:
#   tools/fetch_cloudinit_schema.sh [cache-dir]   (default: .cache/validators)
set -euo pipefail

cache_dir="${1:-.cache/validators}"
schema="schema-cloud-config-v1.json"
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

mkdir -p "${cache_dir}"
(cd "${work}" && apt-get download cloud-init >/dev/null)
deb=$(find "${work}" -name 'cloud-init_*.deb' -print -quit)
if [ -z "${deb}" ]; then
  echo "apt-get download cloud-init produced no package (run apt-get update first)" >&2
  exit 1
fi
dpkg-deb -x "${deb}" "${work}/root"
found=$(find "${work}/root" -path "*cloudinit/config/schemas/${schema}" -print -quit)
if [ -z "${found}" ]; then
  echo "${schema} not found in $(basename "${deb}")" >&2
  exit 1
fi
cp "${found}" "${cache_dir}/${schema}"
basename "${deb}" > "${cache_dir}/${schema}.source"
echo "wrote ${cache_dir}/${schema} from $(basename "${deb}")"
