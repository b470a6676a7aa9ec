// The frame averaged over each texel of a low-resolution analysis map: the colour the model saw
// there, which the edge-aware upsampling compares each full-resolution pixel against.

struct GuideUniform {
    // width, height of this guide (the analysis map's size)
    size: vec4f,
}

@group(0) @binding(0) var<uniform> guide: GuideUniform;
@group(0) @binding(1) var frame: texture_2d<f32>;
@group(0) @binding(2) var frame_sampler: sampler;


@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let frame_size = vec2f(textureDimensions(frame));
    let footprint = frame_size / guide.size.xy;
    // Bilinear taps two frame pixels apart cover the footprint with 2x2 averages each.
    let taps = vec2i(clamp(ceil(footprint / 2.0), vec2f(1.0), vec2f(8.0)));
    var sum = vec3f(0.0);
    for (var j = 0; j < taps.y; j++) {
        for (var i = 0; i < taps.x; i++) {
            let offset = (vec2f(f32(i), f32(j)) + 0.5) / vec2f(taps) - 0.5;
            let uv = in.uv + offset * footprint / frame_size;
            sum += textureSampleLevel(frame, frame_sampler, uv, 0.0).rgb;
        }
    }
    return vec4f(sum / f32(taps.x * taps.y), 1.0);
}
