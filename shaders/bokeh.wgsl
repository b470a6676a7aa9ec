// Depth of field: each pixel gathers a disc whose radius is its circle of confusion,
// |depth - focus| x strength. params.x: strength (pixels at 1280 wide), params.yz: focus point
// (uv), params.w: focus depth (negative = read at the focus point).
const TAPS: i32 = 28;
const GOLDEN_ANGLE: f32 = 2.39996323;

fn circle_of_confusion(uv: vec2f, focus: f32, strength: f32) -> f32 {
    return abs(depth_at(uv) - focus) * strength;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    var focus = layer.params.w;
    if focus < 0.0 {
        focus = depth_at(layer.params.yz);
    }
    let strength = layer.params.x * layer.size.x / 1280.0 * 2.0;
    let coc = circle_of_confusion(in.uv, focus, strength);
    var sum = textureSampleLevel(current, linear_sampler, in.uv, 0.0).rgb;
    var total = 1.0;
    for (var i = 1; i < TAPS; i++) {
        let r = sqrt(f32(i) / f32(TAPS)) * coc;
        let angle = f32(i) * GOLDEN_ANGLE;
        let uv = in.uv + vec2f(cos(angle), sin(angle)) * r * layer.size.zw;
        // A tap contributes if its own blur reaches this pixel; a sharp tap behind does not
        // smear onto a blurred foreground and vice versa.
        let tap_coc = circle_of_confusion(uv, focus, strength);
        let w = smoothstep(r - 1.0, r + 1.0, min(tap_coc, coc) + 1.0);
        sum += textureSampleLevel(current, linear_sampler, uv, 0.0).rgb * w;
        total += w;
    }
    return vec4f(sum / total, 1.0);
}
