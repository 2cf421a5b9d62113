#!/usr/bin/env bash
# Builds tests/rust-sdk/target/debug/glue-get-statement, which tests/python/test_pictures.py runs
# against epoxy (it skips that test while the binary is missing). A separate crate with its own
# target dir: aws-sdk-glue is large (first build ~4 CPU-minutes, ~3.7 GB peak memory, 1.3 GB of
# target), so epoxy's own `cargo build` never pays for it.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --locked
