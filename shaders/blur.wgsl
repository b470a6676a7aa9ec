// One direction of a separable Gaussian blur of `current` (params.xy: direction in pixels,
// params.z: radius in pixels). With params.w = 1, taps are weighted by how much background they
// show, so people do not bleed into the blurred background (no halo).
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let radius = max(layer.params.z, 0.5);
    let sigma = radius / 2.5;
    let step = layer.params.xy * layer.size.zw;
    var sum = vec3f(0.0);
    var total = 0.0;
    let taps = i32(ceil(radius));
    for (var i = -taps; i <= taps; i++) {
        let uv = in.uv + step * f32(i);
        var w = exp(-f32(i * i) / (2.0 * sigma * sigma));
        if layer.params.w > 0.5 {
            w *= 1.0 - person_at(uv) + 1e-3;
        }
        sum += textureSampleLevel(current, linear_sampler, uv, 0.0).rgb * w;
        total += w;
    }
    return vec4f(sum / total, 1.0);
}
