// The most motion (`motion.wgsl`'s alpha) within one quarter-size texel of each: the temporal
// filter takes its fast path a few pixels past where the picture changed (analysis.wgsl).

@group(0) @binding(0) var motion: texture_2d<f32>;

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let last = vec2i(textureDimensions(motion)) - 1;
    let at = vec2i(in.position.xy);
    var most = 0.0;
    for (var y = -1; y <= 1; y++) {
        for (var x = -1; x <= 1; x++) {
            most = max(most, textureLoad(motion, clamp(at + vec2i(x, y), vec2i(0), last), 0).a);
        }
    }
    return vec4f(most);
}
