#!/usr/bin/env python3
"""A straightforward Python implementation of `dreamlens process --preset wall-paint`, used as
the speed baseline: onnxruntime + OpenCV + numpy, the same segmentation model at the same input
size, bilinear upsampling of the wall mask, the same relighting repaint, one PNG per frame.

    python3 -m pip install onnxruntime==1.31.1 opencv-python-headless numpy
    python3 benchmarks/wall_paint_baseline.py MODEL.onnx INPUT.mp4 OUT_DIR
"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

WALL = 1
PAINT = np.array([0x9C, 0xAF, 0x88], dtype=np.float32) / 255.0  # #9caf88, as in wall-paint.toml


def to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def to_srgb(c):
    c = np.maximum(c, 0.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def luminance(c):
    return c[..., 0] * 0.2126 + c[..., 1] * 0.7152 + c[..., 2] * 0.0722


def main():
    model, video, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    capture = cv2.VideoCapture(video)
    paint_linear = to_linear(PAINT)
    index = 0
    started = time.perf_counter()
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = ((small - 128.0) / 128.0).transpose(2, 0, 1)[None]
        classes = session.run(["class_map"], {"image": x})[0][0]
        wall_small = (classes == WALL).astype(np.float32)
        mask = cv2.resize(wall_small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        frame = rgb.astype(np.float32) / 255.0
        # Mean wall colour, then albedo swap: paint x (pixel luminance / mean wall luminance).
        wall_pixels = frame[mask[..., 0] > 0.5]
        reference = wall_pixels.mean(axis=0) if len(wall_pixels) else np.full(3, 0.5, np.float32)
        linear = to_linear(frame)
        light = luminance(linear) / max(float(luminance(to_linear(reference))), 0.02)
        painted = to_srgb(paint_linear * light[..., None])
        result = frame * (1.0 - mask) + painted * mask
        out_bgr = cv2.cvtColor((np.clip(result, 0, 1) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / f"frame_{index:06d}.png"), out_bgr)
        index += 1
    elapsed = time.perf_counter() - started
    print(f"python baseline: {index} frames in {elapsed:.2f} s, {index / elapsed:.2f} fps")


if __name__ == "__main__":
    main()
