// Depth of field, second step: the sharp picture (current) where the circle of confusion is
// under a pixel, the half-resolution bokeh (aux, made by `bokeh.wgsl` at half size) where it is
// wider, blended over one pixel of confusion. Same params as the bokeh pass.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    var focus = layer.params.w;
    if focus < 0.0 {
        focus = depth_at(layer.params.yz);
    }
    let strength = layer.params.x * layer.size.x / 1280.0 * 2.0;
    let coc = abs(depth_at(in.uv) - focus) * strength;
    let sharp = textureSampleLevel(current, linear_sampler, in.uv, 0.0).rgb;
    let blurred = textureSampleLevel(aux, linear_sampler, in.uv, 0.0).rgb;
    return vec4f(mix(sharp, blurred, smoothstep(0.5, 1.5, coc)), 1.0);
}
