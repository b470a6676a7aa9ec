// The frame averaged over 4x4 pixels (rgb), and how much those averages changed since the last
// frame's (alpha), at a quarter of the frame's size. The temporal filter takes new analysis fast
// where the picture moved; averages keep sensor noise from reading as movement.

@group(0) @binding(0) var frame: texture_2d<f32>;
@group(0) @binding(1) var frame_sampler: sampler;
// The last frame's output of this pass.
@group(0) @binding(2) var previous: texture_2d<f32>;


@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let pixel = 1.0 / vec2f(textureDimensions(frame));
    // Bilinear taps at the centres of the block's four 2x2 quads.
    var sum = vec3f(0.0);
    for (var k = 0; k < 4; k++) {
        let offset = (vec2f(f32(k & 1), f32(k >> 1u)) * 2.0 - 1.0) * pixel;
        sum += textureSampleLevel(frame, frame_sampler, in.uv + offset, 0.0).rgb;
    }
    let average = sum / 4.0;
    let before = textureLoad(previous, vec2i(in.position.xy), 0).rgb;
    return vec4f(average, smoothstep(0.03, 0.15, length(average - before)));
}
