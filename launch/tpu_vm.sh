#!/usr/bin/env bash
# Run one command on every worker of a Cloud TPU VM slice (multi-host JAX:
# every worker runs the same program; rtt_jax.main calls
# jax.distributed.initialize() when RTT_JAX_DISTRIBUTED=1), in the
# foreground: closing the ssh session ends it. For training runs use
# launch/tpu.py (create / setup / run detached / logs / stop / delete;
# docs/tpu.md); this script stays for one-off commands on every worker.
#
#   TPU_NAME=my-v5e-64 TPU_ZONE=us-west4-a launch/tpu_vm.sh python3 -m rtt_jax.main ...
#
# The repository must be checked out at $TPU_REPO (default ~/rtt_jax) on every
# worker with the package installed (`launch/tpu.py setup` does both; its venv
# ~/rtt_jax_venv is activated when present, so python3 is its Python); workdirs should be
# gs:// paths so that every worker and the collecting machine see them.
# DRY_RUN=1 prints the gcloud command instead of running it.
set -euo pipefail
if [[ $# -eq 0 ]]; then
  echo "usage: TPU_NAME=... TPU_ZONE=... $0 COMMAND..." >&2
  exit 2
fi
: "${TPU_NAME:?set TPU_NAME to the TPU VM name}"
: "${TPU_ZONE:?set TPU_ZONE to its zone}"
REPO="${TPU_REPO:-~/rtt_jax}"
printf -v CMD '%q ' "$@"
REMOTE="cd ${REPO} && { [ ! -f ~/rtt_jax_venv/bin/activate ] || . ~/rtt_jax_venv/bin/activate; } && RTT_JAX_DISTRIBUTED=1 ${CMD}"
GCLOUD=(gcloud compute tpus tpu-vm ssh "${TPU_NAME}" --zone="${TPU_ZONE}"
        ${TPU_PROJECT:+--project="${TPU_PROJECT}"} --worker=all --command="${REMOTE}")
if [[ "${DRY_RUN:-0}" == "1" ]]; then
  printf '%q ' "${GCLOUD[@]}"; echo
else
  "${GCLOUD[@]}"
fi
