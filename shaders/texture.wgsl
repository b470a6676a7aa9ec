// Region texture: a procedural pattern (params.x: 0 stripes, 1 wood, 2 marble, 3 tiles) laid on
// the region, shaded by the original light. params.y: pattern repeats across the width.
// params.z: 1 lays the pattern on a horizontal plane (floors), 0 on an upright one (walls).
// params.w: how strongly depth foreshortens the pattern (0 = flat screen space).

fn value_noise(p: vec2f) -> f32 {
    let i = floor(p);
    let f = fract(p);
    let u = f * f * (3.0 - 2.0 * f);
    return mix(mix(hash21(i), hash21(i + vec2f(1.0, 0.0)), u.x),
               mix(hash21(i + vec2f(0.0, 1.0)), hash21(i + vec2f(1.0, 1.0)), u.x), u.y);
}

fn fbm(p: vec2f) -> f32 {
    var sum = 0.0;
    var amplitude = 0.5;
    var q = p;
    for (var i = 0; i < 5; i++) {
        sum += amplitude * value_noise(q);
        q = q * 2.03 + vec2f(17.0, 9.0);
        amplitude *= 0.5;
    }
    return sum;
}

// 0 = main colour, 1 = accent colour.
fn pattern(p: vec2f, kind: u32) -> f32 {
    switch kind {
        case 0u: { // stripes: wide band, thin pinstripe
            let x = fract(p.x);
            let band = step(0.5, x);
            let pin = 1.0 - smoothstep(0.0, 0.03, abs(x - 0.25));
            return clamp(band * 0.55 + pin, 0.0, 1.0);
        }
        case 1u: { // wood planks with grain
            let row = p.y * 2.0;
            let plank = floor(row);
            let along = p.x * 0.35 + hash21(vec2f(plank, 3.0)) * 7.0;
            let grain = fract(fbm(vec2f(along * 2.0, row * 7.0)) * 6.0);
            let seam = step(0.94, abs(fract(row) - 0.5) * 2.0);
            return clamp(grain * 0.6 + hash21(vec2f(plank, 1.0)) * 0.25 + seam, 0.0, 1.0);
        }
        case 2u: { // marble veins
            let turbulence = fbm(p * 1.5) * 6.0;
            let vein = abs(sin(p.x * 2.0 + p.y * 1.3 + turbulence));
            return 1.0 - smoothstep(0.0, 0.18, vein);
        }
        default: { // tiles with grout
            let cell = abs(fract(p) - 0.5);
            let grout = step(0.47, max(cell.x, cell.y));
            return clamp(grout + (hash21(floor(p)) - 0.5) * 0.15, 0.0, 1.0);
        }
    }
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let seen = texel(current, in.uv);
    let aspect = layer.size.x * layer.size.w;
    var p = (in.uv - 0.5) * vec2f(aspect, 1.0);
    // Surface coordinates from inverse depth d (x_surface = x / d): far surfaces get finer
    // pattern, receding walls and floors foreshorten.
    let d = mix(1.0, depth_at(in.uv) + 0.15, layer.params.w);
    // A select, not a branch on the uniform (see region_weight in common.wgsl).
    p = select(p / d, vec2f(p.x / d, 1.0 / d), layer.params.z > 0.5);
    let t = pattern(p * layer.params.y, u32(layer.params.x));
    let albedo = mix(layer.colour_linear.rgb, layer.accent_linear.rgb, t);
    let textured = relight(albedo, seen.rgb);
    return vec4f(mix(seen.rgb, textured, region_weight(in.uv) * layer.colour.a), 1.0);
}
