// The composited picture as I420 (BT.601 limited range, 4:2:0) in one R8 texture of
// width x (height * 3 / 2): luma rows, then the Cb plane, then the Cr plane, each packed
// contiguously so a row-by-row readback is the encoder's input as is. Scaling to the recording
// size comes for free from the sampler; an odd source is cropped by one row or column instead.
// Same coefficients as the CPU conversion in `record::encoder`.

struct I420Uniform {
    // output width and height (both even)
    size: vec4u,
    // source uv per output pixel (x, y)
    step: vec4f,
}

@group(0) @binding(0) var<uniform> params: I420Uniform;
@group(0) @binding(1) var source: texture_2d<f32>;
@group(0) @binding(2) var source_sampler: sampler;

fn rgb_at(x: u32, y: u32) -> vec3f {
    let uv = (vec2f(f32(x), f32(y)) + 0.5) * params.step.xy;
    return textureSampleLevel(source, source_sampler, uv, 0.0).rgb * 255.0;
}

fn byte(value: f32) -> vec4f {
    return vec4f(clamp(round(value), 0.0, 255.0) / 255.0, 0.0, 0.0, 1.0);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let width = params.size.x;
    let height = params.size.y;
    let x = u32(in.position.x);
    let y = u32(in.position.y);
    if y < height {
        let c = rgb_at(x, y);
        return byte(16.0 + (66.0 * c.r + 129.0 * c.g + 25.0 * c.b) / 256.0);
    }
    // Chroma: byte `offset` of the two quarter-size planes laid out one after the other.
    let half_width = width / 2u;
    let plane = half_width * (height / 2u);
    let offset = (y - height) * width + x;
    let is_cr = offset >= plane;
    let index = select(offset, offset - plane, is_cr);
    let cx = 2u * (index % half_width);
    let cy = 2u * (index / half_width);
    let c = (rgb_at(cx, cy) + rgb_at(cx + 1u, cy) + rgb_at(cx, cy + 1u) + rgb_at(cx + 1u, cy + 1u)) / 4.0;
    if is_cr {
        return byte(128.0 + (112.0 * c.r - 94.0 * c.g - 18.0 * c.b) / 256.0);
    }
    return byte(128.0 + (-38.0 * c.r - 74.0 * c.g + 112.0 * c.b) / 256.0);
}
