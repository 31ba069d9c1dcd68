#!/usr/bin/env bash
# Install what the two-node practice cluster needs (module 05, its tests): Debian's Slurm and munge.
# Idempotent: does nothing when they are there. Where it cannot install (not root, no apt-get), it says
# in one sentence why the practice cluster is unavailable and exits 0: the multi-node tests and notebook
# cells are then skipped, and the job scripts of 05_clusters still work on a real cluster.
set -euo pipefail
PACKAGES=(slurm-wlm munge libpmi2-0)
have_all() {
  for tool in slurmctld slurmd munged mungekey sbatch srun; do command -v "$tool" >/dev/null || return 1; done
  [ -e /usr/lib/x86_64-linux-gnu/libpmi2.so.0 ] || ls /usr/lib/*/libpmi2.so.0 >/dev/null 2>&1
}
if have_all; then
  echo "practice cluster: Slurm and munge already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "practice cluster unavailable: installing ${PACKAGES[*]} needs root and apt-get, which this machine does not give (use a real Slurm cluster for module 05)."
  exit 0
fi
echo "practice cluster: installing ${PACKAGES[*]} (about 10 s)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; } \
  || { echo "practice cluster unavailable: apt-get could not install ${PACKAGES[*]} (use a real Slurm cluster for module 05)."; exit 0; }
have_all && echo "practice cluster: Slurm $(dpkg-query -W -f='${Version}' slurm-wlm) and munge installed"
