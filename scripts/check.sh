#!/usr/bin/env bash
# Everything CI checks: formatting, lints, and every test against the real models in
# ../shared/models (override with DREAMLENS_MODEL_DIRS), a software GPU, a virtual display and
# a Triton server on 127.0.0.1, and the browser app in headless Chromium; then the Android app and the portable core linted for
# aarch64-linux-android, and the APK linked, packaged and checked.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# A real Triton Inference Server for the hybrid-mode tests (loopback only).
DREAMLENS_TRITON_PYTHON="$(./scripts/install-triton.sh | tail -n 1)"
export DREAMLENS_TRITON_PYTHON
export DREAMLENS_MODEL_DIRS="${DREAMLENS_MODEL_DIRS:-$(cd .. && pwd)/shared/models}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo fmt --all --check
(cd web && cargo fmt --check)
cargo clippy --release --all-targets -- -D warnings
# The browser app, built into target/web/ for tests/web.rs, and its own lints for wasm32.
./scripts/build-web.sh
(cd web && CARGO_TARGET_DIR=../target cargo clippy --release --target wasm32-unknown-unknown -- -D warnings)
cargo test --release
./scripts/check-android.sh
./scripts/build-apk.sh
