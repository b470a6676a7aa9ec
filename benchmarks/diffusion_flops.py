#!/usr/bin/env python3
"""FLOPs (and one PyTorch CPU timing) of SD-Turbo's parts at 512x512, next to the tiny test pipeline.

Real SD-Turbo weights are not needed to count its work: the architecture (diffusers configs of
stabilityai/sd-turbo, an SD 2.1 base model) is built with random weights and run once under
torch's FlopCounterMode. The tiny pipeline (tests/data/tiny-sd) is counted the same way, so
`dreamlens bench diffusion`'s measured milliseconds for it give this CPU's achieved FLOP rate, and
SD-Turbo's cost is projected from that.

    python3 -m pip install torch==2.5.1 diffusers==0.31.0 transformers==4.46.3
    python3 benchmarks/diffusion_flops.py > benchmarks/diffusion_flops.json
"""

import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny-sd"


def count(module, *args):
    """FLOPs of one forward and its wall time (one run after one warm-up, 2 threads)."""
    with torch.no_grad():
        module(*args)
        with FlopCounterMode(display=False) as counter:
            module(*args)
        start = time.perf_counter()
        module(*args)
        seconds = time.perf_counter() - start
    return counter.get_total_flops(), seconds


def unet_call(unet):
    return lambda sample, t, text: unet(sample, t, text).sample


def parts(unet, vae, taesd, text_width):
    latent = torch.randn(1, 4, 64, 64)
    image = torch.randn(1, 3, 512, 512)
    text = torch.randn(1, 77, text_width)
    t = torch.tensor([999.0])
    results = {}
    results["unet_step"] = count(unet_call(unet), latent, t, text)
    results["vae_encode"] = count(lambda x: vae.encode(x).latent_dist.mean, image)
    results["vae_decode"] = count(lambda z: vae.decode(z).sample, latent)
    results["taesd_encode"] = count(lambda x: taesd.encode(x).latents, image)
    results["taesd_decode"] = count(lambda z: taesd.decode(z).sample, latent)
    return {k: {"gflops": v[0] / 1e9, "pytorch_cpu_s": v[1]} for k, v in results.items()}


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    sd_turbo_unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024,
        use_linear_projection=True,
    ).eval()
    sd_vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    ).eval()
    taesd = AutoencoderTiny().eval()
    sd_turbo = parts(sd_turbo_unet, sd_vae, taesd, 1024)
    del sd_turbo_unet, sd_vae

    tiny_unet = UNet2DConditionModel.from_config(json.loads((TINY / "unet" / "config.json").read_text())).eval()
    tiny_vae = AutoencoderKL.from_config(json.loads((TINY / "vae_decoder" / "config.json").read_text())).eval()
    tiny_taesd = AutoencoderTiny.from_config(json.loads((TINY / "taesd" / "config.json").read_text())).eval()
    tiny = parts(tiny_unet, tiny_vae, tiny_taesd, 32)
    json.dump({"size": 512, "threads": 2, "sd_turbo": sd_turbo, "tiny": tiny}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
