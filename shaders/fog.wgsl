// Depth fog: colour thickens with distance. colour.a: density at the far end.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let far = 1.0 - depth_at(in.uv);
    let amount = layer.colour.a * pow(far, 1.5) * region_weight(in.uv);
    return vec4f(mix(seen, layer.colour.rgb, amount), 1.0);
}
