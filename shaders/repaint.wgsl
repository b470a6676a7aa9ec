// Region repaint: the region takes the target colour and keeps its light and shadow.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv);
    let painted = relight(layer.colour_linear.rgb, seen.rgb);
    return vec4f(mix(seen.rgb, painted, region_weight(in.uv) * layer.colour.a), 1.0);
}
