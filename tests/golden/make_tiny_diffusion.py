#!/usr/bin/env python3
"""A tiny random-weight Stable Diffusion img2img pipeline and diffusers' own outputs for it.

Real SD-Turbo weights are gigabytes; the Rust pipeline is proven equal to diffusers on a pipeline of
the same architecture and file layout with random weights instead. Run from the project root:

    python3 -m pip install torch==2.5.1 diffusers==0.31.0 transformers==4.46.3 onnx numpy pillow
    python3 tests/golden/make_tiny_diffusion.py ../shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz

It writes
- tests/data/tiny-sd/: the pipeline in the Optimum ONNX layout (model_index.json, tokenizer/,
  text_encoder/, unet/, vae_encoder/, vae_decoder/, scheduler/) plus taesd/{encoder,decoder}.onnx;
- tests/data/tiny-sd-unet-fp16.onnx: the same UNet in half precision (as SD-Turbo's ONNX release
  ships), to check the pipeline's float16 path;
- tests/golden/diffusion/: the input picture, one JSON per case (parameters, token ids, timesteps)
  and .npy arrays: the noise diffusers drew, the noised starting latents, the final latents and the
  decoded picture (float, before 8-bit rounding).

Noise is drawn here with numpy and handed to diffusers in place of its own `randn_tensor`, so the
Rust side can replay exactly the same noise. The VAE encoder is read at its mean (diffusers'
`sample_mode="argmax"`), which is what a real-time restyler wants and what the export returns.
"""

import copy
import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import diffusers
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerDiscreteScheduler,
    LCMScheduler,
    StableDiffusionImg2ImgPipeline,
    UNet2DConditionModel,
)
from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_module
from diffusers.schedulers import scheduling_lcm
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "tests" / "data" / "tiny-sd"
GOLDEN_DIR = ROOT / "tests" / "golden" / "diffusion"
MERGES = 1500  # the first merges of CLIP's BPE: a real tokenizer with a small vocabulary
SIZE = 64


def bytes_to_unicode():
    """CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_tokenizer(bpe_gz: Path, folder: Path) -> CLIPTokenizer:
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 1 + MERGES]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_models(vocab_size: int):
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=vocab_size - 1,
        )
    ).eval()
    torch.manual_seed(1)
    unet = UNet2DConditionModel(
        sample_size=SIZE // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    ).eval()
    torch.manual_seed(2)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=SIZE,
        scaling_factor=0.18215,
    ).eval()
    torch.manual_seed(3)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    ).eval()
    with torch.no_grad():
        # Random decoders saturate; scale them so the pictures keep detail in [0, 1] and a
        # difference anywhere shows in the comparison.
        vae.decoder.conv_out.weight.mul_(0.3)
        taesd.decoder.layers[-1].weight.mul_(10.0)
        taesd.decoder.layers[-1].bias.fill_(0.5)
    return text_encoder, unet, vae, taesd


class VaeEncoderExport(torch.nn.Module):
    """Optimum's vae_encoder: the diagonal Gaussian's parameters (mean and log-variance)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.quant_conv(self.vae.encoder(sample))


class VaeDecoderExport(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample).sample


class UNetExport(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states).sample


class TextEncoderExport(torch.nn.Module):
    def __init__(self, text_encoder):
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids):
        out = self.text_encoder(input_ids)
        return out.last_hidden_state, out.pooler_output


class TaesdEncoderExport(torch.nn.Module):
    def __init__(self, taesd):
        super().__init__()
        self.taesd = taesd

    def forward(self, sample):
        return self.taesd.encode(sample).latents


class TaesdDecoderExport(torch.nn.Module):
    def __init__(self, taesd):
        super().__init__()
        self.taesd = taesd

    def forward(self, latent_sample):
        return self.taesd.decode(latent_sample).sample


def export(module, args, path: Path, inputs, outputs, dynamic):
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic, opset_version=17
        )


def export_pipeline(text_encoder, unet, vae, taesd):
    image = {0: "batch", 2: "height", 3: "width"}
    latent = {0: "batch", 2: "latent_height", 3: "latent_width"}
    ids = torch.zeros((1, 77), dtype=torch.int64)
    export(TextEncoderExport(text_encoder), (ids,), MODEL_DIR / "text_encoder" / "model.onnx", ["input_ids"],
           ["last_hidden_state", "pooler_output"], {"input_ids": {0: "batch"}})
    export(
        UNetExport(unet),
        (torch.randn(2, 4, 8, 8), torch.tensor([999.0, 999.0]), torch.randn(2, 77, 32)),
        MODEL_DIR / "unet" / "model.onnx",
        ["sample", "timestep", "encoder_hidden_states"],
        ["out_sample"],
        {"sample": latent, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"}, "out_sample": latent},
    )
    export(VaeEncoderExport(vae), (torch.randn(1, 3, SIZE, SIZE),), MODEL_DIR / "vae_encoder" / "model.onnx",
           ["sample"], ["latent_parameters"], {"sample": image, "latent_parameters": latent})
    export(VaeDecoderExport(vae), (torch.randn(1, 4, 8, 8),), MODEL_DIR / "vae_decoder" / "model.onnx",
           ["latent_sample"], ["sample"], {"latent_sample": latent, "sample": image})
    export(
        UNetExport(copy.deepcopy(unet).half()),
        (torch.randn(2, 4, 8, 8).half(), torch.tensor([999.0, 999.0]).half(), torch.randn(2, 77, 32).half()),
        MODEL_DIR.parent / "tiny-sd-unet-fp16.onnx",
        ["sample", "timestep", "encoder_hidden_states"],
        ["out_sample"],
        {"sample": latent, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"}, "out_sample": latent},
    )
    export(TaesdEncoderExport(taesd), (torch.randn(1, 3, SIZE, SIZE),), MODEL_DIR / "taesd" / "encoder.onnx",
           ["sample"], ["latent_sample"], {"sample": image, "latent_sample": latent})
    export(TaesdDecoderExport(taesd), (torch.randn(1, 4, 8, 8),), MODEL_DIR / "taesd" / "decoder.onnx",
           ["latent_sample"], ["sample"], {"latent_sample": latent, "sample": image})


def write_configs(pipe, taesd):
    """The JSON side of the Optimum layout, taken from diffusers' own save_pretrained."""
    saved = MODEL_DIR.parent / "tiny-sd-saved"
    shutil.rmtree(saved, ignore_errors=True)
    pipe.save_pretrained(saved, safe_serialization=True)
    shutil.copy(saved / "model_index.json", MODEL_DIR / "model_index.json")
    (MODEL_DIR / "scheduler").mkdir(exist_ok=True)
    shutil.copy(saved / "scheduler" / "scheduler_config.json", MODEL_DIR / "scheduler" / "scheduler_config.json")
    shutil.copy(saved / "text_encoder" / "config.json", MODEL_DIR / "text_encoder" / "config.json")
    shutil.copy(saved / "unet" / "config.json", MODEL_DIR / "unet" / "config.json")
    for part in ("vae_encoder", "vae_decoder"):
        shutil.copy(saved / "vae" / "config.json", MODEL_DIR / part / "config.json")
    (MODEL_DIR / "taesd" / "config.json").write_text(json.dumps(dict(taesd.config), indent=2, default=list))
    shutil.rmtree(saved)


def test_picture() -> Image.Image:
    """A synthetic room-like picture: wall gradient, floor, a dark sofa block and a window."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    img = np.zeros((SIZE, SIZE, 3), np.float32)
    img[...] = np.stack([0.85 - 0.2 * x, 0.8 - 0.1 * y, 0.7 + 0.1 * x], -1)
    floor = y > 0.7
    img[floor] = np.stack([0.45 + 0.1 * np.sin(x * 40), 0.3 + 0 * x, 0.2 + 0 * x], -1)[floor]
    img[(y > 0.5) & (y < 0.8) & (x > 0.2) & (x < 0.6)] = [0.2, 0.25, 0.4]
    img[(y > 0.1) & (y < 0.4) & (x > 0.65) & (x < 0.9)] = [0.9, 0.95, 1.0]
    return Image.fromarray((img.clip(0, 1) * 255).round().astype(np.uint8))


class NoiseFeed:
    """Replaces diffusers' randn_tensor: numpy noise, recorded for the Rust side."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.drawn = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        noise = self.rng.standard_normal(tuple(shape)).astype(np.float32)
        self.drawn.append(noise)
        return torch.from_numpy(noise)


def save_npy(name, array):
    np.save(GOLDEN_DIR / name, np.ascontiguousarray(array, dtype=np.float32))


def run_case(name, pipe, scheduler_config, prompt, negative, strength, steps, guidance, seed, vae="kl"):
    feed = NoiseFeed(seed)
    img2img_module.randn_tensor = feed
    scheduling_lcm.randn_tensor = feed
    recorded = {}
    add_noise = pipe.scheduler.add_noise

    def recording_add_noise(original, noise, timesteps):
        noisy = add_noise(original, noise, timesteps)
        recorded["image_latents"] = original.numpy().copy()
        recorded["noisy_latents"] = noisy.numpy().copy()
        return noisy

    pipe.scheduler.add_noise = recording_add_noise

    def on_step_end(pipeline, i, t, kwargs):
        recorded.setdefault("timesteps", []).append(float(t))
        recorded["final_latents"] = kwargs["latents"].numpy().copy()
        return {}

    with torch.no_grad():
        out = pipe(
            prompt=prompt,
            negative_prompt=negative if guidance > 1 else None,
            image=test_picture(),
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=guidance,
            output_type="np",
            callback_on_step_end=on_step_end,
        ).images[0]
    ids = pipe.tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids
    for i, noise in enumerate(feed.drawn):
        save_npy(f"{name}.noise{i}.npy", noise)
    save_npy(f"{name}.image_latents.npy", recorded["image_latents"])
    save_npy(f"{name}.noisy_latents.npy", recorded["noisy_latents"])
    save_npy(f"{name}.final_latents.npy", recorded["final_latents"])
    save_npy(f"{name}.output.npy", out)
    case = {
        "name": name,
        "scheduler": {**scheduler_config, "_class_name": type(pipe.scheduler).__name__},
        "vae": vae,
        "prompt": prompt,
        "negative_prompt": negative,
        "strength": strength,
        "steps": steps,
        "guidance_scale": guidance,
        "token_ids": ids,
        "timesteps": recorded["timesteps"],
        "noise_draws": len(feed.drawn),
    }
    (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(case, indent=1))
    print(name, "timesteps", recorded["timesteps"], "noise draws", len(feed.drawn), "output mean", out.mean())


def main():
    bpe = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz"
    shutil.rmtree(MODEL_DIR, ignore_errors=True)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tokenizer(bpe, MODEL_DIR / "tokenizer")
    text_encoder, unet, vae, taesd = tiny_models(len(tokenizer))
    # SD-Turbo's scheduler: Euler discrete, trailing timestep spacing.
    euler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
        prediction_type="epsilon",
    )
    pipe = StableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=euler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    export_pipeline(text_encoder, unet, vae, taesd)
    write_configs(pipe, taesd)
    test_picture().save(GOLDEN_DIR / "input.png")
    original_retrieve = img2img_module.retrieve_latents
    img2img_module.retrieve_latents = lambda out, generator=None, sample_mode="sample": original_retrieve(
        out, generator, "argmax"
    )

    euler_config = dict(euler.config)
    prompt = "a cozy living room, teal walls"
    run_case("euler_turbo", pipe, euler_config, prompt, "", 0.5, 2, 0.0, 1)
    run_case("euler_multi", pipe, euler_config, prompt, "", 0.75, 4, 0.0, 2)
    run_case("euler_cfg", pipe, euler_config, "mid-century modern, oak floor!", "blurry, dark", 0.8, 3, 4.5, 3)
    leading = EulerDiscreteScheduler.from_config({**euler_config, "timestep_spacing": "leading"})
    pipe.scheduler = leading
    run_case("euler_leading", pipe, dict(leading.config), prompt, "", 1.0, 3, 0.0, 4)
    lcm = LCMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="leading")
    pipe.scheduler = lcm
    run_case("lcm", pipe, dict(lcm.config), prompt, "", 0.6, 4, 0.0, 5)
    pipe.scheduler = euler
    pipe.vae = taesd
    run_case("euler_taesd", pipe, euler_config, prompt, "", 0.5, 2, 0.0, 6, vae="taesd")
    (GOLDEN_DIR / "versions.json").write_text(
        json.dumps({"torch": torch.__version__, "diffusers": diffusers.__version__}, indent=1)
    )


if __name__ == "__main__":
    main()
