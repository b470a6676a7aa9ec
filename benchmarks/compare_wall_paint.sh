#!/usr/bin/env bash
# Side-by-side throughput of `dreamlens process --preset wall-paint` and the Python baseline
# running the same segmentation model on the same 1280x720 H.264 clip, alternating runs in one
# session so all see the same machine. The default model is MOSAIC, int8 as trained (one
# `process` run per round); with SEGMENTATION=ade20k-deeplabv3-mnv2, `process` runs at fp32 and
# as the int8 variant `dreamlens models quantize` makes.
#
#   [SEGMENTATION=ID] ./benchmarks/compare_wall_paint.sh [ROUNDS]
#
# Needs: the release binary (cargo build --release), ffmpeg, python3 with onnxruntime==1.31.1,
# opencv-python-headless and numpy, and the models in DREAMLENS_MODEL_DIRS (default
# ../shared/models).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
segmentation="${SEGMENTATION:-ade20k-mosaic}"
case "$segmentation" in
  ade20k-mosaic) onnx=ade20k-mosaic/ade20k32_mosaic_r3_512.onnx; precisions=(default) ;;
  ade20k-deeplabv3-mnv2) onnx=ade20k-deeplabv3-mnv2/ade20k32_deeplabv3_mnv2_512.onnx; precisions=(fp32 int8) ;;
  *) echo "SEGMENTATION must be ade20k-mosaic or ade20k-deeplabv3-mnv2" >&2; exit 2 ;;
esac
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
# The int8 variant of a float model lives in this run's own cache.
export DREAMLENS_CACHE_DIR="$work/cache"
if [ "${#precisions[@]}" -gt 1 ]; then
  ./target/release/dreamlens models quantize "$segmentation" --keep-slower
fi
dreamlens() {
  local start precision=()
  [ "$1" = default ] || precision=(--precision "$1")
  start=$(date +%s.%N)
  ./target/release/dreamlens process "${precision[@]}" --segmentation-model "$segmentation" \
    --input "$clip" --output "$work/rust-$1" --preset wall-paint 2>/dev/null
  echo "$(date +%s.%N) - $start" | bc
}
for round in $(seq "$rounds"); do
  times=()
  for precision in "${precisions[@]}"; do
    times+=("$precision" "$(dreamlens "$precision")")
  done
  start=$(date +%s.%N)
  python3 benchmarks/wall_paint_baseline.py "$models/$onnx" "$clip" "$work/python" >/dev/null
  python=$(echo "$(date +%s.%N) - $start" | bc)
  line="round $round ($segmentation):"
  for ((i = 0; i < ${#times[@]}; i += 2)); do
    line+=$(printf ' dreamlens %s %.2f s (%.2fx),' "${times[i]}" "${times[i+1]}" \
      "$(echo "$python / ${times[i+1]}" | bc -l)")
  done
  printf '%s python %.2f s (%.2f fps)\n' "$line" "$python" "$(echo "$frames / $python" | bc -l)"
done
