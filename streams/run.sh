#!/usr/bin/env bash
# The README's main command: sets up a fresh machine, then runs the local demo
# (Kafka, worker, simulator, Prometheus and Alertmanager when installed). Ctrl-C stops it all.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/streams/setup.sh"
cd "$repo"
exec .venv/bin/cshealth demo "$@"
