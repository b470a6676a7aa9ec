#!/usr/bin/env bash
# Builds the browser app into target/web/: the wasm module and its bindings (wasm-bindgen, pinned
# to the version in web/Cargo.lock), the page, onnxruntime-web's files from the pinned npm package
# (npm ci checks each package's integrity hash from web/package-lock.json), and the models the
# page uses that the model store finds, each checked against the manifest's sha256.
#
# Serve it with `python3 scripts/serve-web.py` (COOP/COEP headers for wasm threads), or copy
# target/web/ to any static host that sends those two headers.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=target/web
bindgen_version=0.2.130

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
    # Not --locked: its lock names a webpki-roots release the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$bindgen_version"
fi
(cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

(cd web && CARGO_TARGET_DIR="$root/target" cargo build --release --target wasm32-unknown-unknown)
rm -rf "$out"
mkdir -p "$out/ort" "$out/models"
wasm-bindgen --target web --no-typescript --out-dir "$out" \
    target/wasm32-unknown-unknown/release/dreamlens_web.wasm
cp web/static/* "$out/"

# onnxruntime-web: the two entry scripts the page loads (CPU, WebGPU) and the wasm builds they
# fetch. Nothing is loaded from anywhere but the page's origin.
dist=web/node_modules/onnxruntime-web/dist
cp "$dist/ort.wasm.min.js" "$dist/ort.webgpu.min.js" "$out/ort/"
for f in "$dist"/ort-wasm-simd-threaded*.{mjs,wasm}; do
    case "$f" in *jspi*) continue ;; esac
    cp "$f" "$out/ort/"
done

python3 - "$out" <<'PY'
# The models the page may open, copied from the store's folders after their sha256 is checked;
# a model not found is left out (the page then says so and runs without it).
import hashlib, os, pathlib, shutil, sys, tomllib, struct, zlib
out = pathlib.Path(sys.argv[1])
wanted = ["ade20k-mosaic", "ade20k-deeplabv3-mnv2", "selfie-segmentation", "tcmonodepth-small", "multistyle26",
          "arbitrary-style-predict", "arbitrary-style-transform"]
cache = os.environ.get("DREAMLENS_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dreamlens", "models")
roots = [pathlib.Path(cache)] + [pathlib.Path(p) for p in os.environ.get("DREAMLENS_MODEL_DIRS", "").split(os.pathsep) if p]
manifest = tomllib.loads(pathlib.Path("models/models.toml").read_text())
for model in manifest["model"]:
    if model["id"] not in wanted:
        continue
    file = model["files"][0]
    # The published file, or the conversion `models fetch` made of its public source.
    accepted = {file["sha256"], file.get("converted", {}).get("sha256")}
    for root in roots:
        source = root / file["path"]
        if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() in accepted:
            target = out / "models" / file["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            print(f"model {model['id']}: {source}")
            break
    else:
        print(f"model {model['id']}: not in the store (looked in {', '.join(map(str, roots))}); the page will say so")

# The install icons: the SVG's ring and dot as PNG, which some browsers require.
def icon(size):
    rows = []
    c = size / 2
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            d = ((x + 0.5 - c) ** 2 + (y + 0.5 - c) ** 2) ** 0.5 / size * 512
            if 130 <= d <= 170:
                row += bytes((0x9c, 0xaf, 0x88))
            elif d <= 70:
                row += bytes((0xe8, 0xec, 0xef))
            else:
                row += bytes((0x10, 0x14, 0x18))
        rows.append(bytes(row))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
for size in (192, 512):
    (out / f"icon-{size}.png").write_bytes(icon(size))

# What the service worker caches at install: every file but the models (the app caches those
# itself once their sha256 is checked).
import json
files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] != "models")
(out / "app-files.json").write_text(json.dumps(files + ["app-files.json"], indent=1))
PY
echo "built $out ($(du -sh "$out" | cut -f1)); serve it with: python3 scripts/serve-web.py"
