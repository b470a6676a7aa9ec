#!/usr/bin/env bash
# Builds the phone app's APK on a Linux machine without the Android NDK or SDK, and checks it:
# target/apk/dreamlens.apk.
#
# - The Rust library is linked with Debian's clang and lld against stub platform libraries made
#   from android/ndk-symbols.tsv at the app's minSdk (scripts/android_link.py), as the NDK makes
#   its own; `-z defs` fails the link on any symbol the phone would not have. The one C crate
#   left in the phone build (ring) compiles for real, with clang's own freestanding headers.
# - The APK is packaged with aapt against Debian's framework resources, aligned with zipalign,
#   and signed with a debug key made here on the first build. The models the built-in presets need
#   go in as assets (scripts/apk_models.py), from the store's folders on this machine.
# - Checks: the library's needs, symbols and 16 KB page alignment; `aapt dump badging`;
#   `zipalign -c`; `apksigner verify`.
#
# ONNX Runtime's Android library cannot be obtained on such a machine, so this APK has none: the
# app starts, shows the camera and its filters, and says on screen that model layers are off. The
# Gradle build of android/ packages it (README, "Android").
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/android-toolchain.sh
out=target/apk
target=$android_target
min_sdk=$android_min_sdk
package=$(sed -n 's/^ *applicationId = "\(.*\)"/\1/p' android/app/build.gradle.kts)
target_sdk=$(sed -n 's/^ *targetSdk = \([0-9]*\)/\1/p' android/app/build.gradle.kts)
version_code=$(sed -n 's/^ *versionCode = \([0-9]*\)/\1/p' android/app/build.gradle.kts)
version_name=$(sed -n 's/^ *versionName = "\(.*\)"/\1/p' android/app/build.gradle.kts)
framework=/usr/share/android-framework-res/framework-res.apk

for tool in ld.lld aapt zipalign apksigner keytool; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing; run ./scripts/install-deps.sh" >&2; exit 1; }
done
[ -f "$framework" ] || { echo "error: $framework is missing; run ./scripts/install-deps.sh" >&2; exit 1; }

echo "== stub platform libraries at API $min_sdk"
rm -rf "$out"
python3 scripts/android_link.py stubs --facts android/ndk-symbols.tsv --api "$min_sdk" --out "$out/stubs"
stubs=$(realpath "$out/stubs")
cat > "$out/stubs/android-clang" <<LINK
#!/bin/sh
exec clang --target=$target$min_sdk -fuse-ld=lld -nostartfiles -L "$stubs" "\$@" \
    -Wl,-z,defs -Wl,-z,max-page-size=16384
LINK
chmod +x "$out/stubs/android-clang"

echo "== the app's library"
export CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER="$stubs/android-clang"
cargo build --release --manifest-path android/Cargo.toml --target "$target"
library=android/target/$target/release/libdreamlens_android.so
python3 scripts/android_link.py check --facts android/ndk-symbols.tsv --api "$min_sdk" "$library"

echo "== packaging"
mkdir -p "$out/assets/models"
python3 scripts/apk_models.py "$out/assets/models"
mkdir -p "$out/root/lib/arm64-v8a"
cp "$library" "$out/root/lib/arm64-v8a/"
# aapt takes the package name from the manifest; Gradle takes it from build.gradle.kts.
sed "s|<manifest |<manifest package=\"$package\" |" android/app/src/main/AndroidManifest.xml \
    > "$out/AndroidManifest.xml"
aapt package -f -M "$out/AndroidManifest.xml" -I "$framework" -A "$out/assets" \
    -S android/app/src/main/res \
    --min-sdk-version "$min_sdk" --target-sdk-version "$target_sdk" \
    --version-code "$version_code" --version-name "$version_name" \
    -F "$out/unaligned.apk"
(cd "$out/root" && aapt add -v ../unaligned.apk lib/arm64-v8a/libdreamlens_android.so >/dev/null)
zipalign -f -p 4 "$out/unaligned.apk" "$out/aligned.apk"
key=target/android-debug.keystore
if [ ! -f "$key" ]; then
    keytool -genkeypair -keystore "$key" -storepass android -keypass android \
        -alias androiddebugkey -keyalg RSA -keysize 2048 -validity 10000 \
        -dname "CN=dreamlens debug,O=dreamlens" >/dev/null 2>&1
fi
apksigner sign --ks "$key" --ks-pass pass:android --key-pass pass:android \
    --out "$out/dreamlens.apk" "$out/aligned.apk"

echo "== checking the APK"
badging=$(aapt dump badging "$out/dreamlens.apk")
for line in "package: name='$package'" "sdkVersion:'$min_sdk'" \
    "launchable-activity: name='android.app.NativeActivity'" \
    "uses-permission: name='android.permission.CAMERA'" \
    "uses-permission: name='android.permission.RECORD_AUDIO'" \
    "uses-permission: name='android.permission.INTERNET'" "native-code: 'arm64-v8a'" \
    "application-icon-160:'res/drawable/ic_launcher.xml'"; do
    grep -qF "$line" <<< "$badging" || { echo "error: aapt dump badging lacks: $line" >&2; exit 1; }
done
packaged=$(find "$out/assets/models" -type f | wc -l)
listed=$(aapt list "$out/dreamlens.apk" | grep -c '^assets/models/' || true)
[ "$packaged" -eq "$listed" ] || { echo "error: $packaged models gathered, $listed in the APK" >&2; exit 1; }
zipalign -c -p 4 "$out/dreamlens.apk"
apksigner verify --min-sdk-version "$min_sdk" "$out/dreamlens.apk"
echo "apk built and checked: $out/dreamlens.apk ($(du -h "$out/dreamlens.apk" | cut -f1), $listed model files)"
