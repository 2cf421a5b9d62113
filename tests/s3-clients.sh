#!/usr/bin/env bash
# Installs the Debian S3 clients the S3 end-to-end tests also drive (s3cmd, rclone) when they are
# missing, then runs tests/python/test_s3.py. Needs root (or sudo) for apt-get; without them the
# s3cmd/rclone tests are skipped, not failed.
#   EPOXY_BIN=target/debug/epoxy tests/s3-clients.sh [extra pytest args]
#   tests/s3-clients.sh --install-only     (what scripts/test does before its pytest run)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in s3cmd rclone; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y -q "${missing[@]}" || { apt-get update -q && apt-get install -y -q "${missing[@]}"; }
    elif command -v sudo >/dev/null; then
        sudo apt-get install -y -q "${missing[@]}"
    else
        echo "s3-clients.sh: cannot install ${missing[*]} (not root, no sudo); their tests will be skipped" >&2
    fi
fi

[[ ${1:-} == --install-only ]] && exit 0
python=${EPOXY_TEST_PYTHON:-target/test-venv/bin/python}
exec "$python" -m pytest tests/python/test_s3.py -q "$@"
