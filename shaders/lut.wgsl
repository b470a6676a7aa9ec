// 3D LUT colour grade with trilinear filtering. params.x: entries per axis.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let range = max(layer.lut_domain_max.rgb - layer.lut_domain_min.rgb, vec3f(1e-6));
    let unit = clamp((seen - layer.lut_domain_min.rgb) / range, vec3f(0.0), vec3f(1.0));
    let n = layer.params.x;
    let coord = (unit * (n - 1.0) + 0.5) / n;
    let graded = textureSampleLevel(lut, linear_sampler, coord, 0.0).rgb;
    return vec4f(mix(seen, graded, region_weight(in.uv) * layer.colour.a), 1.0);
}
