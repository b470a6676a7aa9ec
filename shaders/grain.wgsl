// Film grain: luminance noise that changes every frame (reference.a is the frame index),
// stronger in the mid-tones. params.x: amount.
@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv).rgb;
    let pixel = floor(in.uv * layer.size.xy);
    let n = hash21(pixel + vec2f(layer.reference.a * 17.0, layer.reference.a * 31.0)) - 0.5;
    let l = dot(seen, vec3f(0.299, 0.587, 0.114));
    let midtone = 1.0 - abs(2.0 * l - 1.0) * 0.6;
    let grained = seen + vec3f(n * layer.params.x * midtone * 2.0);
    return vec4f(mix(seen, clamp(grained, vec3f(0.0), vec3f(1.0)), region_weight(in.uv)), 1.0);
}
