#!/usr/bin/env bash
# Soak: runs dreamlens for a long stretch and samples its resident memory, to show it stays
# flat. Usage: benchmarks/soak.sh process|live [SECONDS_FOR_LIVE]
#   process: 20,000 demo frames at 160x120 through the film preset into an MP4
#   live:    the live window under Xvfb (demo room, wall-paint), recording the whole time
# Prints one RSS sample per 5 s, then the first sample after warm-up (60 s), the largest
# later one and their ratio, and checks the recording with ffprobe.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/dreamlens
out=$(mktemp -d)
mode=${1:-process}
case "$mode" in
  process)
    "$bin" process --input demo --demo-size 160x120 --max-frames 20000 --preset film \
      --output "$out/soak.mp4" 2>"$out/log" &
    ;;
  live)
    seconds=${2:-600}
    Xvfb :91 -screen 0 1280x800x24 -nolisten tcp &
    xvfb=$!
    sleep 1
    DISPLAY=:91 XDG_CONFIG_HOME="$out" "$bin" --preset wall-paint --window-size 640x400 \
      --microphone none --record-to "$out/soak.mp4" --quit-after-frames $((seconds * 15)) \
      2>"$out/log" &
    ;;
  *) echo "usage: $0 process|live [seconds]" >&2; exit 2 ;;
esac
pid=$!
start=$(date +%s)
samples=()
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  now=$(( $(date +%s) - start ))
  [ -n "$rss" ] && { echo "$now s: ${rss} kB"; samples+=("$now:$rss"); }
  sleep 5
done
wait "$pid" || { echo "the run failed:"; tail -5 "$out/log"; exit 1; }
[ "$mode" = live ] && kill "$xvfb"
tail -2 "$out/log"
printf '%s\n' "${samples[@]}" | awk -F: '$1 >= 60 { if (!first) first = $2; if ($2 > max) max = $2 }
  END { if (first) printf "after warm-up: first %d kB, largest %d kB, ratio %.3f\n", first, max, max / first }'
ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height \
  -of default=nw=1 "$out/soak.mp4"
rm -rf "$out"
