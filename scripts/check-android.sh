#!/usr/bin/env bash
# Type-checks the Android app (android/) and the portable core for aarch64-linux-android, and
# checks that the Android build carries none of the desktop-only libraries.
#
# This is type checking only. Without the NDK nothing can be linked: build scripts that compile
# C (android-activity's glue, ring, oniguruma) are given a compiler shim that writes empty
# object files and archives, which is all `cargo check` needs. A passing run proves the Android
# code compiles against the real NDK, winit, wgpu and ONNX Runtime bindings, not that it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-linux-android
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

shims=$(mktemp -d)
trap 'rm -rf "$shims"' EXIT
cat > "$shims/cc" <<'SHIM'
#!/bin/sh
# Type checking only: an empty file wherever an object is asked for.
out=""
previous=""
for arg in "$@"; do
    [ "$previous" = "-o" ] && out="$arg"
    previous="$arg"
done
[ -n "$out" ] && : > "$out"
exit 0
SHIM
cat > "$shims/ar" <<'SHIM'
#!/bin/sh
# Type checking only: an empty archive wherever one is asked for.
for arg in "$@"; do
    case "$arg" in
        *.a) printf '!<arch>\n' > "$arg" ;;
    esac
done
exit 0
SHIM
chmod +x "$shims/cc" "$shims/ar"
export CC_aarch64_linux_android="$shims/cc" CXX_aarch64_linux_android="$shims/cc"
export AR_aarch64_linux_android="$shims/ar"

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
