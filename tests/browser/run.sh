#!/usr/bin/env bash
# Browser tests of the console in real headless Chromium. Installs what is missing (Debian's
# chromium, playwright-core from package-lock.json), then runs console.test.mjs.
#   EPOXY_BIN=target/debug/epoxy (default)  EPOXY_TEST_PYTHON=<python with boto3>
#   EPOXY_TEST_RUNTIME_PYTHON=<python with pyspark> also runs the PySpark run-box test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [ ! -x /usr/bin/chromium ]; then
  apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi
if [ -z "${EPOXY_TEST_PYTHON:-}" ] && [ ! -x "$repo/target/test-venv/bin/python" ]; then
  python3 -m venv "$repo/target/test-venv"
  "$repo/target/test-venv/bin/pip" install -q -r "$repo/tests/python/requirements.txt"
fi
cd "$here"
exec node --test --test-concurrency=1 console.test.mjs
