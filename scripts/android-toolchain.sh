# Sourced by the Android scripts: the target, the app's minSdk (from android/app/build.gradle.kts,
# which the Gradle build reads too), and Debian's clang for the C the phone build compiles. That
# is only ring's, which needs no C library headers (clang's freestanding ones are enough).
android_target=aarch64-linux-android
android_min_sdk=$(sed -n 's/^ *minSdk = \([0-9]*\)/\1/p' android/app/build.gradle.kts)
if ! rustup target list --installed | grep -qx "$android_target"; then
    rustup target add "$android_target"
fi
for tool in clang llvm-ar; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing; run ./scripts/install-deps.sh" >&2; exit 1; }
done
export CC_aarch64_linux_android=clang AR_aarch64_linux_android=llvm-ar
export CFLAGS_aarch64_linux_android="--target=$android_target$android_min_sdk -nostdlibinc -DRING_CORE_NOSTDLIBINC=1"
