#!/usr/bin/env python3
"""Display rate and segmentation runs per second of the browser app in headless Chromium (WebGPU
on SwiftShader, the camera fed from a Y4M of a real room at 1280x720), with the models on the
wasm and on the WebGPU execution provider, beside the native live window under Xvfb on the same
input, in one session, alternating.

    python3 benchmarks/web_vs_native.py [SECONDS] [ROUNDS]

WEB_SITES=name=dir,name=dir compares builds of the page side by side (default: target/web).

Needs: target/web (scripts/build-web.sh), the release binary, chromium, ffmpeg, Xvfb, and the
pip package websocket-client.
"""
import base64, json, os, pathlib, re, subprocess, sys, tempfile, threading, time

import websocket

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 40
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
MODELS = os.environ.get("DREAMLENS_MODEL_DIRS", str(ROOT.parent / "shared" / "models"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan",
                  "--use-angle=swiftshader", "--use-vulkan=swiftshader", "--disable-vulkan-surface",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic", "--no-first-run", "--remote-debugging-port=0"]


SITES = [tuple(pair.split("=", 1)) for pair in os.environ.get("WEB_SITES", f"browser={ROOT / 'target' / 'web'}").split(",")]


def page(work, y4m, query, site):
    server = subprocess.Popen([sys.executable, str(ROOT / "scripts/serve-web.py"), "--port", "0", "--dir", site],
                              stdout=subprocess.PIPE, text=True)
    origin = re.search(r"http://[0-9.:]+", server.stdout.readline()).group(0)
    chrome = subprocess.Popen(["chromium", *CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={y4m}",
                               f"--user-data-dir={tempfile.mkdtemp(dir=work)}"],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in chrome.stderr:
            if "DevTools listening on" in line:
                url = line.split("on ", 1)[1].strip()
                break
        threading.Thread(target=lambda: [None for _ in chrome.stderr], daemon=True).start()
        ws = websocket.create_connection(url)
        ids = iter(range(1, 1 << 30))

        def call(method, params, session=None):
            i = next(ids)
            ws.send(json.dumps({"id": i, "method": method, "params": params, **({"sessionId": session} if session else {})}))
            while True:
                reply = json.loads(ws.recv())
                if reply.get("id") == i:
                    return reply.get("result", {})

        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Page.navigate", {"url": f"{origin}/{query}"}, session)
        summary = None
        end = time.time() + SECONDS
        while time.time() < end:
            time.sleep(1)
            value = call("Runtime.evaluate", {"expression": "window.dreamlens ? JSON.stringify(window.dreamlens.summary()) : null",
                                              "returnByValue": True}, session)["result"].get("value")
            summary = json.loads(value) if value else summary
        return summary
    finally:
        chrome.kill()
        server.kill()


def native(work, clip):
    display = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24"], stdout=subprocess.PIPE, text=True)
    number = display.stdout.readline().strip()
    summary = pathlib.Path(work) / "native.json"
    try:
        # About as long as the pages run: the window writes its summary when it quits.
        proc = subprocess.Popen([str(ROOT / "target/release/dreamlens"), "--input", str(clip), "--preset", "wall-paint",
                                 "--window-size", "1280x800", "--summary-json", str(summary),
                                 "--quit-after-frames", str(int(SECONDS * 8))],
                                env={**os.environ, "DISPLAY": f":{number}", "DREAMLENS_MODEL_DIRS": MODELS},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.wait(timeout=SECONDS * 6)
        return json.loads(summary.read_text()) if summary.exists() else None
    finally:
        display.kill()


def main():
    work = tempfile.mkdtemp()
    photo = pathlib.Path(MODELS).parent / "images" / "ade20k" / "ADE_val_00000001.jpg"
    y4m = pathlib.Path(work) / "room.y4m"
    clip = pathlib.Path(work) / "room.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-loop", "1", "-framerate", "10", "-t", "6", "-i", str(photo),
                    "-vf", "scale=1280:720", "-pix_fmt", "yuv420p", str(y4m)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(y4m), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True)
    print(f"{SECONDS:.0f} s each, 1280x720, wall-paint, the default segmentation model")
    runs = []
    for label, site in SITES:
        for provider in os.environ.get("WEB_PROVIDERS", "wasm,webgpu").split(","):
            runs.append((f"{label}, {provider} EP", lambda site=site, provider=provider:
                         page(work, y4m, f"?preset=wall-paint&provider={provider}", site)))
    runs.append(("native live window", lambda: native(work, clip)))
    for round_ in range(1, ROUNDS + 1):
        for name, run in runs:
            s = run() or {}
            seg = s.get("stages", {}).get("segmentation", {})
            print(f"round {round_} | {name:24} | display {s.get('display_fps', 0):5.1f} fps | max gap {s.get('max_frame_gap_ms', 0):6.0f} ms"
                  f" | segmentation {seg.get('model', '?')} {seg.get('runs', 0):3} runs, {seg.get('runs_per_second', 0):.2f}/s,"
                  f" last {seg.get('latency_ms', 0):.0f} ms", flush=True)


if __name__ == "__main__":
    main()
