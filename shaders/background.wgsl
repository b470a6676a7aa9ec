// Background blur or replace: people stay sharp, the rest comes from `aux` (the blurred
// picture) or, with params.z = 1, from a vertical gradient colour -> accent.
// params.x: person threshold, params.y: feather.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let threshold = layer.params.x;
    let feather = max(layer.params.y, 1e-3);
    let keep = smoothstep(threshold - feather, threshold + feather, person_at(in.uv));
    // A select, not a branch on the uniform (see region_weight in common.wgsl).
    let blurred = textureSampleLevel(aux, linear_sampler, in.uv, 0.0).rgb;
    let gradient = mix(layer.colour.rgb, layer.accent.rgb, in.uv.y);
    let backdrop = select(blurred, gradient, layer.params.z > 0.5);
    return vec4f(mix(backdrop, seen, keep), 1.0);
}
