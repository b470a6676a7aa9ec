// Style transfer: the stylized frame (aux) blended in over the layer's region.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let styled = textureSampleLevel(aux, linear_sampler, in.uv, 0.0).rgb;
    return vec4f(mix(seen, styled, region_weight(in.uv) * layer.colour.a), 1.0);
}
