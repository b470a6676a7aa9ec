// Region membership refined by the picture: a guided filter (He, Sun and Tang 2010) in its fast
// form (He and Sun 2015). On a grid of 8x8-pixel colour averages, each window fits every region
// set's membership as a linear function of the colour (a . colour + b); the coefficients are
// averaged over the windows that hold a cell, and the analysis pass applies them at each pixel
// with its own colour, so region borders move onto the picture's edges. `upsample.rs` has the
// CPU twin `bench regions` measures.

struct GuidedUniform {
    // x: unused, y: regularisation (0..1 colour, squared)
    params: vec4f,
}

// The window radius in grid cells, fixed when the pipeline is made: a loop bound read from a
// uniform makes Mesa's lavapipe compile the shader again whenever the uniform is written, and
// it keeps every copy.
override RADIUS: i32;

@group(0) @binding(0) var<uniform> guided: GuidedUniform;
// The frame averaged over each grid cell (guide.wgsl).
@group(0) @binding(1) var grid_colour: texture_2d<f32>;
// Membership of the region grid, one set per channel.
@group(0) @binding(2) var membership: texture_2d<f32>;
@group(0) @binding(3) var linear_sampler: sampler;

struct PerSet {
    @location(0) set0: vec4f,
    @location(1) set1: vec4f,
    @location(2) set2: vec4f,
    @location(3) set3: vec4f,
}

// Columns c0, c1, c2 of a symmetric matrix with a positive determinant: its inverse.
fn inverse_symmetric(c0: vec3f, c1: vec3f, c2: vec3f) -> mat3x3f {
    let r0 = cross(c1, c2);
    let r1 = cross(c2, c0);
    let r2 = cross(c0, c1);
    let det = dot(c0, r0);
    return transpose(mat3x3f(r0, r1, r2)) * (1.0 / det);
}

@fragment
fn fs_coefficients(in: VertexOut) -> PerSet {
    let size = vec2i(textureDimensions(grid_colour));
    let centre = vec2i(in.position.xy);
    let r = RADIUS;
    var mean_i = vec3f(0.0);
    var ii_diagonal = vec3f(0.0);
    var ii_off = vec3f(0.0);
    var mean_p = vec4f(0.0);
    var ip_r = vec4f(0.0);
    var ip_g = vec4f(0.0);
    var ip_b = vec4f(0.0);
    for (var j = -r; j <= r; j++) {
        for (var i = -r; i <= r; i++) {
            let t = clamp(centre + vec2i(i, j), vec2i(0), size - 1);
            let c = textureLoad(grid_colour, t, 0).rgb;
            let p = textureSampleLevel(membership, linear_sampler, (vec2f(t) + 0.5) / vec2f(size), 0.0);
            mean_i += c;
            ii_diagonal += c * c;
            ii_off += vec3f(c.r * c.g, c.r * c.b, c.g * c.b);
            mean_p += p;
            ip_r += c.r * p;
            ip_g += c.g * p;
            ip_b += c.b * p;
        }
    }
    let n = f32((2 * r + 1) * (2 * r + 1));
    mean_i /= n;
    mean_p /= n;
    let variance = ii_diagonal / n - mean_i * mean_i + guided.params.y;
    let covariance = ii_off / n - vec3f(mean_i.r * mean_i.g, mean_i.r * mean_i.b, mean_i.g * mean_i.b);
    let inverse = inverse_symmetric(
        vec3f(variance.x, covariance.x, covariance.y),
        vec3f(covariance.x, variance.y, covariance.z),
        vec3f(covariance.y, covariance.z, variance.z),
    );
    let cov_r = ip_r / n - mean_i.r * mean_p;
    let cov_g = ip_g / n - mean_i.g * mean_p;
    let cov_b = ip_b / n - mean_i.b * mean_p;
    var out: PerSet;
    let a0 = inverse * vec3f(cov_r.x, cov_g.x, cov_b.x);
    let a1 = inverse * vec3f(cov_r.y, cov_g.y, cov_b.y);
    let a2 = inverse * vec3f(cov_r.z, cov_g.z, cov_b.z);
    let a3 = inverse * vec3f(cov_r.w, cov_g.w, cov_b.w);
    out.set0 = vec4f(a0, mean_p.x - dot(a0, mean_i));
    out.set1 = vec4f(a1, mean_p.y - dot(a1, mean_i));
    out.set2 = vec4f(a2, mean_p.z - dot(a2, mean_i));
    out.set3 = vec4f(a3, mean_p.w - dot(a3, mean_i));
    return out;
}

// The coefficients of `fs_coefficients`, averaged over each cell's window.
@group(0) @binding(4) var coefficients0: texture_2d<f32>;
@group(0) @binding(5) var coefficients1: texture_2d<f32>;
@group(0) @binding(6) var coefficients2: texture_2d<f32>;
@group(0) @binding(7) var coefficients3: texture_2d<f32>;

@fragment
fn fs_mean(in: VertexOut) -> PerSet {
    let size = vec2i(textureDimensions(coefficients0));
    let centre = vec2i(in.position.xy);
    let r = RADIUS;
    var out: PerSet;
    for (var j = -r; j <= r; j++) {
        for (var i = -r; i <= r; i++) {
            let t = clamp(centre + vec2i(i, j), vec2i(0), size - 1);
            out.set0 += textureLoad(coefficients0, t, 0);
            out.set1 += textureLoad(coefficients1, t, 0);
            out.set2 += textureLoad(coefficients2, t, 0);
            out.set3 += textureLoad(coefficients3, t, 0);
        }
    }
    let n = f32((2 * r + 1) * (2 * r + 1));
    out.set0 /= n;
    out.set1 /= n;
    out.set2 /= n;
    out.set3 /= n;
    return out;
}
