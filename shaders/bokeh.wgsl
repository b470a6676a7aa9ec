// Depth of field: each pixel gathers a disc whose radius is its circle of confusion,
// |depth - focus| x strength (the helpers and params are in common.wgsl).
const TAPS: i32 = 28;
const GOLDEN_ANGLE: f32 = 2.39996323;

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let focus = focus_depth();
    let coc = circle_of_confusion(in.uv, focus);
    var sum = textureSampleLevel(current, linear_sampler, in.uv, 0.0).rgb;
    var total = 1.0;
    for (var i = 1; i < TAPS; i++) {
        let r = sqrt(f32(i) / f32(TAPS)) * coc;
        let angle = f32(i) * GOLDEN_ANGLE;
        let uv = in.uv + vec2f(cos(angle), sin(angle)) * r * layer.size.zw;
        // A tap contributes if its own blur reaches this pixel; a sharp tap behind does not
        // smear onto a blurred foreground and vice versa.
        let tap_coc = circle_of_confusion(uv, focus);
        let w = smoothstep(r - 1.0, r + 1.0, min(tap_coc, coc) + 1.0);
        sum += textureSampleLevel(current, linear_sampler, uv, 0.0).rgb * w;
        total += w;
    }
    return vec4f(sum / total, 1.0);
}
