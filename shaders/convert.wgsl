// Camera formats to RGBA: YUYV 4:2:2 (packed, one RGBA8 texel = Y0 U Y1 V) and NV12 4:2:0
// (Y plane R8 + interleaved UV plane RG8), BT.601 limited range as webcams deliver.

@group(0) @binding(0) var packed: texture_2d<f32>;
@group(0) @binding(1) var chroma: texture_2d<f32>;


fn yuv_to_rgb(y: f32, u: f32, v: f32) -> vec4f {
    let c = (y - 16.0 / 255.0) * 1.164383;
    let d = u - 0.5;
    let e = v - 0.5;
    let rgb = vec3f(c + 1.596027 * e, c - 0.391762 * d - 0.812968 * e, c + 2.017232 * d);
    return vec4f(clamp(rgb, vec3f(0.0), vec3f(1.0)), 1.0);
}

@fragment
fn fs_yuyv(in: VertexOut) -> @location(0) vec4f {
    let pixel = vec2i(in.position.xy);
    let texel = textureLoad(packed, vec2i(pixel.x / 2, pixel.y), 0);
    let y = select(texel.b, texel.r, pixel.x % 2 == 0);
    return yuv_to_rgb(y, texel.g, texel.a);
}

@fragment
fn fs_nv12(in: VertexOut) -> @location(0) vec4f {
    let pixel = vec2i(in.position.xy);
    let y = textureLoad(packed, pixel, 0).r;
    let uv = textureLoad(chroma, pixel / 2, 0).rg;
    return yuv_to_rgb(y, uv.x, uv.y);
}
