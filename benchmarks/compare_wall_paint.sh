#!/usr/bin/env bash
# Side-by-side throughput of `dreamlens process --preset wall-paint` and the Python baseline
# running the same segmentation model on the same 1280x720 H.264 clip, alternating runs in one
# session so all see the same machine. The default model is MOSAIC, int8 as trained: `process`
# runs it on every frame, and on every third with the regions carried between by the measured
# motion (`--segment-every 3`, or SEGMENT_EVERY), whose agreement with the every-frame run is
# printed at the end, and on every third reading each frame once instead of with its mirror
# image (`once-every3`; the Python baseline reads once). With
# SEGMENTATION=ade20k-deeplabv3-mnv2, `process` runs at fp32 and as the int8 variant
# `dreamlens models quantize` makes.
#
#   [SEGMENTATION=ID] [SEGMENT_EVERY=N] ./benchmarks/compare_wall_paint.sh [ROUNDS]
#
# Needs: the release binary (cargo build --release), ffmpeg, python3 with onnxruntime==1.31.1,
# opencv-python-headless and numpy, and the models in DREAMLENS_MODEL_DIRS (default
# ../shared/models).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
segmentation="${SEGMENTATION:-ade20k-mosaic}"
every="${SEGMENT_EVERY:-3}"
case "$segmentation" in
  ade20k-mosaic) onnx=ade20k-mosaic/ade20k32_mosaic_r3_512.onnx; variants=(default "every$every" "once-every$every") ;;
  ade20k-deeplabv3-mnv2) onnx=ade20k-deeplabv3-mnv2/ade20k32_deeplabv3_mnv2_512.onnx; variants=(fp32 int8) ;;
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
if [[ " ${variants[*]} " == *" int8 "* ]]; then
  ./target/release/dreamlens models quantize "$segmentation" --keep-slower
fi
dreamlens() {
  local start flags=()
  case "$1" in
    default) ;;
    every*) flags=(--segment-every "${1#every}") ;;
    once-every*) flags=(--segmentation-passes once --segment-every "${1#once-every}") ;;
    *) flags=(--precision "$1") ;;
  esac
  start=$(date +%s.%N)
  ./target/release/dreamlens process "${flags[@]}" --segmentation-model "$segmentation" \
    --input "$clip" --output "$work/rust-$1" --preset wall-paint 2>/dev/null
  echo "$(date +%s.%N) - $start" | bc
}
for round in $(seq "$rounds"); do
  times=()
  for variant in "${variants[@]}"; do
    times+=("$variant" "$(dreamlens "$variant")")
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
if [ -d "$work/rust-every$every" ]; then
  python3 - "$work/rust-default" "$work/rust-every$every" <<'PY'
# Pixels whose repaint agrees between every-frame and carried regions: a pixel disagrees where
# the two pictures differ by more than 40 levels in a channel (tests/process.rs uses the same).
import sys, pathlib, cv2, numpy as np
each, carried = (sorted(pathlib.Path(d).glob("*.png")) for d in sys.argv[1:3])
shares = [1 - (np.abs(cv2.imread(str(a)).astype(int) - cv2.imread(str(b)).astype(int)).max(axis=2) > 40).mean()
          for a, b in zip(each, carried)]
print(f"carried regions agree with every-frame analysis on {100 * np.mean(shares):.2f}% of pixels "
      f"(worst frame {100 * min(shares):.2f}%, {len(shares)} frames)")
PY
fi
