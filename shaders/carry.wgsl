// Carrying results made on an older frame onto the frame shown now: each pixel reads the older
// picture where its part of the scene was, by a coarse motion field (displacements in 0..1 frame
// units on a small grid, bilinear in between). Runs at the maps' own (model) resolution.
//
// fs_nearest: class-derived region membership (ids do not blend); fs_linear: person mask and
// depth; fs_keyframe: the stylized keyframe, cross-faded from the one before while it fades out.

struct CarryUniform {
    // x: fade progress 0..1 of `source` over `older`; y: 1 when `older` takes part
    params: vec4f,
}

@group(0) @binding(0) var<uniform> carry: CarryUniform;
@group(0) @binding(1) var source: texture_2d<f32>;
@group(0) @binding(2) var flow: texture_2d<f32>;
@group(0) @binding(3) var older: texture_2d<f32>;
@group(0) @binding(4) var older_flow: texture_2d<f32>;

// Where this pixel's content was in `size`-texel pictures of the older frame, in texel units.
fn source_position(field: texture_2d<f32>, uv: vec2f, size: vec2f) -> vec2f {
    return clamp((uv + displacement(field, uv)) * size - 0.5, vec2f(0.0), size - 1.0);
}

// Bilinear read at texel position `p` (textureLoad: works for unfilterable formats too).
fn bilinear(picture: texture_2d<f32>, p: vec2f) -> vec4f {
    let size = vec2i(textureDimensions(picture));
    let i0 = vec2i(floor(p));
    let i1 = min(i0 + 1, size - 1);
    let f = p - floor(p);
    let top = mix(textureLoad(picture, i0, 0), textureLoad(picture, vec2i(i1.x, i0.y), 0), f.x);
    let bottom = mix(textureLoad(picture, vec2i(i0.x, i1.y), 0), textureLoad(picture, i1, 0), f.x);
    return mix(top, bottom, f.y);
}

@fragment
fn fs_nearest(in: VertexOut) -> @location(0) vec4f {
    let p = source_position(flow, in.uv, vec2f(textureDimensions(source)));
    return textureLoad(source, vec2i(floor(p + 0.5)), 0);
}

@fragment
fn fs_linear(in: VertexOut) -> @location(0) vec4f {
    return bilinear(source, source_position(flow, in.uv, vec2f(textureDimensions(source))));
}

@fragment
fn fs_keyframe(in: VertexOut) -> @location(0) vec4f {
    // The keyframe is drawn at its own size; an older one of another size is sampled at the
    // same relative place.
    let newest = bilinear(source, source_position(flow, in.uv, vec2f(textureDimensions(source))));
    let previous = bilinear(older, source_position(older_flow, in.uv, vec2f(textureDimensions(older))));
    // Smoothstep: no visible start or end of the fade.
    let t = carry.params.x * carry.params.x * (3.0 - 2.0 * carry.params.x);
    // A select, not a branch on the uniform: Mesa's lavapipe compiles a shader again whenever
    // the uniforms it branches on are written, and keeps every copy.
    return select(mix(previous, newest, t), newest, carry.params.y < 0.5);
}
