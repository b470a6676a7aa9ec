// Cartoon: colour posterised to params.x levels, dark ink on Sobel edges (params.y).
fn luma_at(uv: vec2f) -> f32 {
    return dot(textureSampleLevel(current, linear_sampler, uv, 0.0).rgb, vec3f(0.299, 0.587, 0.114));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let levels = layer.params.x;
    let flat = floor(seen * levels + 0.5) / levels;
    let px = layer.size.zw * 1.5;
    let tl = luma_at(in.uv + vec2f(-px.x, -px.y));
    let t = luma_at(in.uv + vec2f(0.0, -px.y));
    let tr = luma_at(in.uv + vec2f(px.x, -px.y));
    let l = luma_at(in.uv + vec2f(-px.x, 0.0));
    let r = luma_at(in.uv + vec2f(px.x, 0.0));
    let bl = luma_at(in.uv + vec2f(-px.x, px.y));
    let b = luma_at(in.uv + vec2f(0.0, px.y));
    let br = luma_at(in.uv + vec2f(px.x, px.y));
    let gx = (tr + 2.0 * r + br) - (tl + 2.0 * l + bl);
    let gy = (bl + 2.0 * b + br) - (tl + 2.0 * t + tr);
    let edge = smoothstep(0.2, 0.5, sqrt(gx * gx + gy * gy));
    let toon = flat * (1.0 - layer.params.y * edge);
    return vec4f(mix(seen, toon, region_weight(in.uv)), 1.0);
}
