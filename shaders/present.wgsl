// Draws a texture into a rectangle of the target (letterboxing the picture in the window, or
// copying the finished window image to the surface). Outside the rectangle: the clear colour.

struct PresentUniform {
    // x0, y0, x1, y1 of the destination rectangle in 0..1 target coordinates
    rect: vec4f,
}

@group(0) @binding(0) var<uniform> present: PresentUniform;
@group(0) @binding(1) var source: texture_2d<f32>;
@group(0) @binding(2) var source_sampler: sampler;


@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let rect = present.rect;
    let local = (in.uv - rect.xy) / max(rect.zw - rect.xy, vec2f(1e-6));
    if any(local < vec2f(0.0)) || any(local > vec2f(1.0)) {
        return vec4f(0.06, 0.06, 0.07, 1.0);
    }
    return vec4f(textureSampleLevel(source, source_sampler, local, 0.0).rgb, 1.0);
}
