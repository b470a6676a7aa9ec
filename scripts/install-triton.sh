#!/usr/bin/env bash
# Development only: installs a real Triton Inference Server (bundled in the nvidia-pytriton wheel)
# plus onnxruntime into a venv, for scripts/serve_triton.py. Quick when already installed.
# Prints the venv's python path as its last line.
set -euo pipefail
venv="${DREAMLENS_TRITON_VENV:-$HOME/.local/share/dreamlens/triton-venv}"
# Exact pins: pytriton 0.7.0 needs numpy<2, and 1.26.4 is the last numpy 1.x.
pins=(nvidia-pytriton==0.7.0 onnxruntime==1.31.1 numpy==1.26.4)
marker="$venv/.dreamlens-installed"
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "${pins[*]}" ] \
  || ! "$venv/bin/python" -c 'import pytriton, onnxruntime' >/dev/null 2>&1; then
  # Debian's python (not a pyenv one): pytriton's proxy fails on other 3.11 patch releases.
  if ! /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv
  fi
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
  echo "${pins[*]}" >"$marker"
fi
echo "$venv/bin/python"
