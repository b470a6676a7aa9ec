// Coarse motion fields: displacements in 0..1 frame units on a small grid, one texel per grid
// point (unfilterable), bilinear in between. Prepended to the shaders that move pictures by them
// (`carry.wgsl`, `analysis.wgsl`).

// The motion at `uv`: the grid's vectors sit at texel centres, clamped at the borders.
fn displacement(field: texture_2d<f32>, uv: vec2f) -> vec2f {
    let size = vec2f(textureDimensions(field));
    let g = clamp(uv * size - 0.5, vec2f(0.0), size - 1.0);
    let i0 = vec2i(floor(g));
    let i1 = min(i0 + 1, vec2i(size) - 1);
    let f = g - floor(g);
    let top = mix(textureLoad(field, i0, 0).xy, textureLoad(field, vec2i(i1.x, i0.y), 0).xy, f.x);
    let bottom = mix(textureLoad(field, vec2i(i0.x, i1.y), 0).xy, textureLoad(field, i1, 0).xy, f.x);
    return mix(top, bottom, f.y);
}
