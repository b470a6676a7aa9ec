// Shared by every effect pass: the layer uniform, the bind group every effect sees, the
// full-screen triangle, and colour helpers. Prepended to each effect shader by `render::shaders`.

struct LayerUniform {
    // width, height, 1/width, 1/height of the output
    size: vec4f,
    // rgb: the effect's main colour (sRGB), a: strength 0..1
    colour: vec4f,
    // rgb: the effect's second colour (sRGB), a: effect-specific
    accent: vec4f,
    // effect-specific parameters
    params: vec4f,
    // one-hot over the four region-mask channels; all zero = the whole frame
    region: vec4f,
    // x: linear luminance of the region's mean colour in the original frame, a: frame index
    reference: vec4f,
    // LUT input domain
    lut_domain_min: vec4f,
    lut_domain_max: vec4f,
    // `colour` and `accent` in linear RGB (converted once on the CPU)
    colour_linear: vec4f,
    accent_linear: vec4f,
}

@group(0) @binding(0) var<uniform> layer: LayerUniform;
@group(0) @binding(1) var linear_sampler: sampler;
// The picture so far (output of the previous layer).
@group(0) @binding(2) var current: texture_2d<f32>;
// The untouched frame.
@group(0) @binding(3) var original: texture_2d<f32>;
// Four soft region masks at frame size (edge-aware upsampled, temporally smoothed).
@group(0) @binding(4) var region_masks: texture_2d<f32>;
// r: person probability, g: normalised inverse depth (1 = nearest), at frame size.
@group(0) @binding(5) var person_depth: texture_2d<f32>;
// Effect-specific image: a blurred copy, the stylized frame, ...
@group(0) @binding(6) var aux: texture_2d<f32>;
@group(0) @binding(7) var lut: texture_3d<f32>;


// sRGB transfer curves without `pow`, which costs an exp and a log per channel (dozens of
// instructions on a software rasteriser, and slow on many mobile GPUs). On 0..1 both stay
// within 0.25 of an 8-bit level of the exact curves.
fn to_linear(srgb: vec3f) -> vec3f {
    let c = clamp(srgb, vec3f(0.0), vec3f(1.0));
    // Least-squares quartic of ((c + 0.055) / 1.055)^2.4, weighted for relative error.
    let curve = (((-0.13489714 * c + 0.55306651) * c + 0.54932411) * c + 0.02975397) * c
        + 0.00100836;
    return select(curve, c / 12.92, c <= vec3f(0.04045));
}

fn to_srgb(c: vec3f) -> vec3f {
    let v = max(c, vec3f(0.0));
    // 1.055 v^(1/2.4) - 0.055 from v^(1/2), v^(1/4) and v^(1/8).
    let s1 = sqrt(v);
    let s2 = sqrt(s1);
    let s3 = sqrt(s2);
    let curve = 0.66200269 * s1 + 0.68412206 * s2 - 0.3235836 * s3 - 0.02254115 * v;
    return select(curve, v * 12.92, v <= vec3f(0.0031308));
}

fn luminance(linear_rgb: vec3f) -> f32 {
    return dot(linear_rgb, vec3f(0.2126, 0.7152, 0.0722));
}

// The texel of `texture` under `uv`. A pass at the texture's own size lands on texel centres,
// where a filtered sample returns the same value from four fetches (a software rasteriser pays
// for all four).
fn texel(texture: texture_2d<f32>, uv: vec2f) -> vec4f {
    let size = vec2i(textureDimensions(texture));
    return textureLoad(texture, clamp(vec2i(uv * vec2f(size)), vec2i(0), size - 1), 0);
}

// How much of this pixel belongs to the layer's region (1 everywhere when no region is set).
// Without a branch on the uniform: Mesa's lavapipe (22.3) compiles a shader again whenever the
// uniforms it branches on are written, and keeps every copy (about 340 KB a frame with `grain`,
// several MB with `wall-paint`). Effect shaders choose with `select` instead.
fn region_weight(uv: vec2f) -> f32 {
    let whole = f32(all(layer.region == vec4f(0.0)));
    return max(whole, clamp(dot(texel(region_masks, uv), layer.region), 0.0, 1.0));
}

fn person_at(uv: vec2f) -> f32 {
    return texel(person_depth, uv).r;
}

fn depth_at(uv: vec2f) -> f32 {
    return texel(person_depth, uv).g;
}

// Depth of field (bokeh.wgsl, focus.wgsl). params.x: strength (pixels at 1280 wide), params.yz:
// focus point (uv), params.w: focus depth (negative = read at the focus point).
fn focus_depth() -> f32 {
    // A select, not a branch on the uniform (see region_weight).
    return select(layer.params.w, depth_at(layer.params.yz), layer.params.w < 0.0);
}

// The circle of confusion at `uv` in this pass's pixels.
fn circle_of_confusion(uv: vec2f, focus: f32) -> f32 {
    let strength = layer.params.x * layer.size.x / 1280.0 * 2.0;
    return abs(depth_at(uv) - focus) * strength;
}

// Albedo swap: the picture seen = albedo x light, so the new albedo times the light the
// original surface received (its luminance over the region's mean) keeps shadows and texture.
fn relight(albedo_linear: vec3f, seen_srgb: vec3f) -> vec3f {
    let light = luminance(to_linear(seen_srgb)) / max(layer.reference.x, 0.02);
    return to_srgb(albedo_linear * light);
}

fn hash21(p: vec2f) -> f32 {
    var q = fract(p * vec2f(123.34, 456.21));
    q += dot(q, q + 45.32);
    return fract(q.x * q.y);
}
