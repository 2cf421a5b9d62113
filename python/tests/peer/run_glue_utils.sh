#!/usr/bin/env bash
# Peer suite: the test suite of glue-utils (MIT, PyPI), a library built on `awsglue`, run against
# epoxy's awsglue. Downloads the pinned sdist (and its one extra test dependency) from PyPI into
# a temporary directory, runs its tests with the runtime interpreter, prints the counts.
#
#   python/tests/peer/run_glue_utils.sh            # exit status = pytest's
#
# Env: EPOXY_RUNTIME_PYTHON (default /tmp/lockgen/v/bin/python), PYTEST_LAYER (a directory
# holding pytest; default /tmp/pytest-layer; pytest is installed into the temp dir when absent).
set -euo pipefail

GLUE_UTILS_VERSION=0.12.0
TYPING_EXTENSIONS_VERSION=4.12.2
PYTEST_VERSION=8.4.1

here=$(cd "$(dirname "$0")" && pwd)
library=$(cd "$here/../.." && pwd)   # python/: awsglue and awsgluedq
py=${EPOXY_RUNTIME_PYTHON:-/tmp/lockgen/v/bin/python}
layer=${PYTEST_LAYER:-/tmp/pytest-layer}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$py" -m pip download -q --no-deps --no-binary :all: "glue-utils==$GLUE_UTILS_VERSION" -d "$work"
"$py" -m pip install -q --no-deps --target "$work/deps" "typing_extensions==$TYPING_EXTENSIONS_VERSION"
[[ -d "$layer/_pytest" ]] || "$py" -m pip install -q --target "$work/deps" "pytest==$PYTEST_VERSION"
tar xzf "$work/glue_utils-$GLUE_UTILS_VERSION.tar.gz" -C "$work"

cd "$work/glue_utils-$GLUE_UTILS_VERSION"
# Its own tests, against our awsglue (no AWS awsglue is installed anywhere on the path).
set +e
PYTHONPATH="$library:$work/deps:$layer:src" "$py" -m pytest test -q -p no:cacheprovider \
  -o junit_suite_name=glue_utils 2>&1 | tee "$work/out.txt" | tail -n 15
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ (passed|failed)|passed|failed' "$work/out.txt" | tail -n 1)
echo "glue-utils $GLUE_UTILS_VERSION against epoxy awsglue: $summary"
exit "$status"
