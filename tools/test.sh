#!/usr/bin/env bash
# The project's one test command (README "Run the tests"; CI runs exactly this).
# Installs what the tests need from the project's own files, then lint, type check and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# Real tools that read what the factory generates: Slurm (slurmctld, sinfo, scontrol, munge) and
# cloud-init's schema, promtool and amtool come from Debian; shellcheck, kubernetes-validate and parliament from PyPI.
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  bash tools/install_slurm.sh
  [ -f .cache/validators/schema-cloud-config-v1.json ] || bash tools/fetch_cloudinit_schema.sh
else
  echo "test.sh: not root; skipping apt installs (Slurm, promtool and cloud-init checks need: sudo bash tools/install_slurm.sh && bash tools/fetch_cloudinit_schema.sh)" >&2
fi

ruff check .
ruff format --check .
mypy

set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
