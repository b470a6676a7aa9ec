// Depth of field, second step: the sharp picture (current) where the circle of confusion is
// under a pixel, the half-resolution bokeh (aux, made by `bokeh.wgsl` at half size) where it is
// wider, blended over one pixel of confusion. Same params as the bokeh pass.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let coc = circle_of_confusion(in.uv, focus_depth());
    let sharp = texel(current, in.uv).rgb;
    let blurred = textureSampleLevel(aux, linear_sampler, in.uv, 0.0).rgb;
    return vec4f(mix(sharp, blurred, smoothstep(0.5, 1.5, coc)), 1.0);
}
