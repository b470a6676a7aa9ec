#!/usr/bin/env bash
# The cost of recording on `dreamlens process`: the same 1280x720 clip and preset written as an
# H.264 MP4 (recording on) and as PNG frames (recording off), alternating in one session.
#
#   ./benchmarks/compare_recording.sh [ROUNDS] [PRESET]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
preset="${2:-wall-paint}"
models="${DREAMLENS_MODEL_DIRS:-$(cd .. && pwd)/shared/models}"
export DREAMLENS_MODEL_DIRS="$models" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
clip="$work/room_720p.mp4"
ffmpeg -loglevel error -loop 1 -i "$models/../images/ade20k/ADE_val_00000001.jpg" \
  -vf "scale=1280:720,zoompan=z='1+0.002*on':d=1:s=1280x720:fps=10" -frames:v 60 \
  -c:v libx264 -pix_fmt yuv420p "$clip"
seconds() { local start; start=$(date +%s.%N); "$@" 2>/dev/null; echo "$(date +%s.%N) - $start" | bc; }
for round in $(seq "$rounds"); do
  on=$(seconds ./target/release/dreamlens process --input "$clip" --output "$work/out.mp4" --preset "$preset")
  off=$(seconds ./target/release/dreamlens process --input "$clip" --output "$work/png" --preset "$preset")
  printf 'round %s: MP4 %.2f s (%.2f fps), PNG frames %.2f s (%.2f fps), recording costs %+.1f%%\n' \
    "$round" "$on" "$(echo "60 / $on" | bc -l)" "$off" "$(echo "60 / $off" | bc -l)" "$(echo "($on / $off - 1) * 100" | bc -l)"
done
