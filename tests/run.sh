#!/usr/bin/env bash
# The README's test command: sets up a fresh machine, then runs every test
# (unit, stream, and integration against a real local Kafka, Prometheus and Alertmanager).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/streams/setup.sh"
cd "$repo"
exec .venv/bin/python -m pytest "$@"
