#!/usr/bin/env bash
# Everything CI checks: formatting, lints, and every test against the real models in
# ../shared/models (override with DREAMLENS_MODEL_DIRS).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export DREAMLENS_MODEL_DIRS="${DREAMLENS_MODEL_DIRS:-$(cd .. && pwd)/shared/models}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo fmt --all --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release
