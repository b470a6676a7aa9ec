// Vignette: corners darkened by params.x.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let aspect = layer.size.x * layer.size.w;
    let d = length((in.uv - 0.5) * vec2f(aspect, 1.0)) / length(vec2f(aspect, 1.0) * 0.5);
    let shade = 1.0 - layer.params.x * smoothstep(0.35, 1.0, d);
    return vec4f(seen * shade, 1.0);
}
