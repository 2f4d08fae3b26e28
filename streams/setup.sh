#!/usr/bin/env bash
# Sets up everything cshealth needs on a fresh Debian machine: system packages
# (Java, Maven, Prometheus, Alertmanager), the virtualenv with the package and
# its test extra (from requirements.lock, hash-checked), and the Kafka broker jars in the cache. Safe to run again:
# each step is skipped when already done. Sourced by streams/run.sh and tests/run.sh.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

need_apt=()
command -v java >/dev/null || need_apt+=(default-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v amtool >/dev/null || need_apt+=(prometheus-alertmanager)
if ((${#need_apt[@]})); then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "cshealth needs Python >= 3.11"'
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
stamp=.venv/.cshealth-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  # Every package, build backend included, is the locked version and its file the hashed one:
  # a changed or substituted file on the index fails the install instead of running here.
  echo "setup: installing the locked dependencies (hash-checked) and cshealth into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  touch "$stamp"
fi

echo "setup: Kafka broker jars: $(.venv/bin/cshealth kafka jars)"
