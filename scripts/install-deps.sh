#!/usr/bin/env bash
# System packages dreamlens needs on Debian/Ubuntu:
# - FFmpeg's libraries (video decoding), libclang for the FFmpeg and camera bindings, nasm for the
#   camera library's JPEG decoder, ALSA headers for the microphone;
# - Vulkan on the CPU (lavapipe) for the compositor;
# - the ffmpeg and ffprobe tools for making and checking test videos, Xvfb and xdotool (clicks)
#   for the window tests, strace for the test that proves no command opens an internet
#   connection, and Chromium for the browser app's tests (WebGPU on SwiftShader, a camera fed
#   from a file);
# - clang, lld and LLVM's tools, which link the phone app without the NDK, and aapt, zipalign,
#   apksigner and the framework resources, which package its APK.
# Node.js and npm install onnxruntime-web for the browser build, from Debian when the machine has
# none. ONNX Runtime is installed by the app itself on first use (from the onnxruntime PyPI
# wheel, with pip).
set -euo pipefail
packages=(mesa-vulkan-drivers libvulkan1 ffmpeg pkg-config libclang-dev nasm
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev xvfb xauth
  libasound2-dev strace chromium xdotool
  clang lld llvm aapt zipalign apksigner android-framework-res)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
