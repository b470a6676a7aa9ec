//! WGSL sources, embedded in the binary. Effect shaders share `common.wgsl`, which is prepended.

/// Shared declarations of every effect pass.
pub const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// Stand-alone shaders: (name, source).
pub const STANDALONE: [(&str, &str); 4] = [
    ("analysis", include_str!("../../shaders/analysis.wgsl")),
    ("guide", include_str!("../../shaders/guide.wgsl")),
    ("convert", include_str!("../../shaders/convert.wgsl")),
    ("present", include_str!("../../shaders/present.wgsl")),
];

/// The analysis upsampling shader.
pub const ANALYSIS: &str = STANDALONE[0].1;
/// The low-resolution guide shader.
pub const GUIDE: &str = STANDALONE[1].1;
/// The camera-format conversion shader.
pub const CONVERT: &str = STANDALONE[2].1;
/// The blit shader that puts pictures on screen.
pub const PRESENT: &str = STANDALONE[3].1;

/// Effect shaders, each completed by `COMMON`: (name, body).
pub const EFFECTS: [(&str, &str); 11] = [
    ("repaint", include_str!("../../shaders/repaint.wgsl")),
    ("texture", include_str!("../../shaders/texture.wgsl")),
    ("blur", include_str!("../../shaders/blur.wgsl")),
    ("background", include_str!("../../shaders/background.wgsl")),
    ("bokeh", include_str!("../../shaders/bokeh.wgsl")),
    ("fog", include_str!("../../shaders/fog.wgsl")),
    ("style", include_str!("../../shaders/style.wgsl")),
    ("lut", include_str!("../../shaders/lut.wgsl")),
    ("toon", include_str!("../../shaders/toon.wgsl")),
    ("grain", include_str!("../../shaders/grain.wgsl")),
    ("vignette", include_str!("../../shaders/vignette.wgsl")),
];

/// The full source of an effect shader.
pub fn effect_source(body: &str) -> String {
    format!("{COMMON}\n{body}")
}

/// Every complete shader source, for validation: (name, source).
pub fn all_sources() -> Vec<(&'static str, String)> {
    STANDALONE
        .iter()
        .map(|(name, source)| (*name, (*source).to_owned()))
        .chain(EFFECTS.iter().map(|(name, body)| (*name, effect_source(body))))
        .collect()
}
