#!/usr/bin/env bash
# Type-checks and lints the Android app (android/) and the portable core for aarch64-linux-android,
# and checks that the Android build carries none of the desktop-only libraries. The app itself
# is linked, packaged and checked by scripts/build-apk.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/android-toolchain.sh
target=$android_target

echo "== type-checking the portable core for $target"
cargo check --lib --no-default-features --target "$target"
echo "== type-checking and linting the Android app for $target"
cargo clippy --manifest-path android/Cargo.toml --target "$target" -- -D warnings
cargo fmt --manifest-path android/Cargo.toml --check

echo "== no desktop-only library in the Android build"
tree=$(cargo tree --manifest-path android/Cargo.toml --target "$target" -e normal --prefix none)
for crate in ffmpeg-next ffmpeg-sys-next nokhwa openh264 openh264-sys2 cpal; do
    if grep -q "^$crate v" <<< "$tree"; then
        echo "error: the Android build depends on $crate" >&2
        exit 1
    fi
done
echo "android check passed"
