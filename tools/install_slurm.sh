#!/usr/bin/env bash
# Install the Debian packages the real-tool tests run against (Slurm, promtool, amtool) (run as root; idempotent).
#
#   slurmctld    the controller (bookworm ships 22.05.8) and slurm-wlm-basic-plugins it loads
#   slurm-client sinfo, scontrol, squeue
#   munge        munged + mungekey: AuthType=auth/munge needs a running munged
#   prometheus   for promtool: `promtool check rules` / `promtool test rules` judge the factory's rule
#                groups (tests/schedulers/test_observability_rules.py); its server is never started
#   prometheus-alertmanager  for amtool: `amtool check-config` judges the managed workspace's alert manager
#                configuration (tests/schedulers/test_observability_managed.py); never started either
#
# The tests start munged and slurmctld themselves in a temporary directory; no systemd service is
# enabled or started here (policy-rc.d keeps the package scripts from starting them in containers).
set -euo pipefail

packages=(slurmctld slurm-client munge prometheus prometheus-alertmanager)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_slurm: already installed: ${packages[*]}"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install_slurm: run as root to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the packages' postinst from starting daemons: the tests run their own, in a temp dir.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install_slurm: installed ${missing[*]}; $(slurmctld -V)"
