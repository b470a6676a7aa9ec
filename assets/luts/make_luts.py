#!/usr/bin/env python3
"""Writes the LUTs dreamlens ships (assets/luts/*.cube). Pure Python, no dependencies.

    python3 assets/luts/make_luts.py
"""
from pathlib import Path

SIZE = 17
OUT = Path(__file__).resolve().parent


def clamp(v):
    return min(1.0, max(0.0, v))


def s_curve(v, amount):
    # Smooth contrast around mid grey.
    return clamp(v + amount * (v - 0.5) * (1.0 - abs(2.0 * v - 1.0)))


def film(r, g, b):
    """Warm, slightly faded print look: lifted blacks, soft contrast, muted greens."""
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    sat = 0.82
    r, g, b = (luma + (c - luma) * sat for c in (r, g, b))
    r, g, b = s_curve(r, 0.35), s_curve(g, 0.3), s_curve(b, 0.25)
    lift = 0.06
    r, g, b = lift + r * (1 - lift), lift * 0.9 + g * (1 - lift), lift * 1.2 + b * (1 - lift * 1.3)
    return clamp(r * 1.04 + 0.01), clamp(g * 0.99), clamp(b * 0.92)


def teal_orange(r, g, b):
    """Shadows pushed to teal, skin and highlights to orange."""
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    shadow = (1.0 - luma) ** 2
    high = luma ** 2
    r = r - 0.10 * shadow + 0.10 * high
    g = g + 0.03 * shadow + 0.03 * high
    b = b + 0.10 * shadow - 0.10 * high
    return clamp(s_curve(r, 0.2)), clamp(s_curve(g, 0.2)), clamp(s_curve(b, 0.2))


def write(name, title, fn):
    lines = [f'TITLE "{title}"', "# Made by assets/luts/make_luts.py", f"LUT_3D_SIZE {SIZE}"]
    n = SIZE - 1
    for bi in range(SIZE):
        for gi in range(SIZE):
            for ri in range(SIZE):
                r, g, b = fn(ri / n, gi / n, bi / n)
                lines.append(f"{r:.6f} {g:.6f} {b:.6f}")
    (OUT / name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write("film.cube", "dreamlens film", film)
    write("teal-orange.cube", "dreamlens teal and orange", teal_orange)
