#!/usr/bin/env bash
# Side-by-side throughput of `dreamlens process --preset wall-paint` and the Python baseline on
# the same 1280x720 H.264 clip, alternating runs in one session so both see the same machine.
#
#   ./benchmarks/compare_wall_paint.sh [ROUNDS]
#
# Needs: the release binary (cargo build --release), ffmpeg, python3 with onnxruntime==1.31.1,
# opencv-python-headless and numpy, and the models in DREAMLENS_MODEL_DIRS (default
# ../shared/models).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
models="${DREAMLENS_MODEL_DIRS:-$(cd .. && pwd)/shared/models}"
export DREAMLENS_MODEL_DIRS="$models" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
clip="$work/room_720p.mp4"
# 6 s at 10 fps of a real room photo with a slow zoom: 60 frames of 1280x720 H.264.
ffmpeg -loglevel error -loop 1 -i "$models/../images/ade20k/ADE_val_00000001.jpg" \
  -vf "scale=1280:720,zoompan=z='1+0.002*on':d=1:s=1280x720:fps=10" -frames:v 60 \
  -c:v libx264 -pix_fmt yuv420p "$clip"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
echo "clip: $frames frames, 1280x720"
for round in $(seq "$rounds"); do
  start=$(date +%s.%N)
  ./target/release/dreamlens process --input "$clip" --output "$work/rust" --preset wall-paint 2>/dev/null
  rust=$(echo "$(date +%s.%N) - $start" | bc)
  start=$(date +%s.%N)
  python3 benchmarks/wall_paint_baseline.py "$models/ade20k-deeplabv3-mnv2/ade20k32_deeplabv3_mnv2_512.onnx" "$clip" "$work/python" >/dev/null
  python=$(echo "$(date +%s.%N) - $start" | bc)
  printf 'round %s: dreamlens %.2f s (%.2f fps), python %.2f s (%.2f fps), ratio %.2fx\n' \
    "$round" "$rust" "$(echo "$frames / $rust" | bc -l)" "$python" "$(echo "$frames / $python" | bc -l)" "$(echo "$python / $rust" | bc -l)"
done
