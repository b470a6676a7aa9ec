//! WGSL sources, embedded in the binary. Every shader is completed by `fullscreen.wgsl` (the
//! full-screen triangle); effect shaders also by `common.wgsl` (the bindings every effect sees),
//! and the two that move pictures by motion fields by `motion_field.wgsl`.

/// The full-screen triangle, prepended to every shader.
pub const FULLSCREEN: &str = include_str!("../../shaders/fullscreen.wgsl");

/// Reading coarse motion fields, prepended to the shaders that move pictures by them.
pub const MOTION_FIELD: &str = include_str!("../../shaders/motion_field.wgsl");

/// Shared declarations of every effect pass.
pub const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// Shaders that stand alone besides the triangle: (name, body).
pub const STANDALONE: [(&str, &str); 8] = [
    ("carry", include_str!("../../shaders/carry.wgsl")),
    ("analysis", include_str!("../../shaders/analysis.wgsl")),
    ("guide", include_str!("../../shaders/guide.wgsl")),
    ("guided", include_str!("../../shaders/guided.wgsl")),
    ("motion", include_str!("../../shaders/motion.wgsl")),
    ("motion_near", include_str!("../../shaders/motion_near.wgsl")),
    ("present", include_str!("../../shaders/present.wgsl")),
    ("i420", include_str!("../../shaders/i420.wgsl")),
];

/// Effect shaders, each completed by `COMMON`: (name, body).
pub const EFFECTS: [(&str, &str); 12] = [
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
    ("focus", include_str!("../../shaders/focus.wgsl")),
];

/// The full source of a stand-alone shader by name (`carry`, `analysis`, `guide`, `guided`,
/// `motion`, `motion_near`, `present`, `i420`).
pub fn standalone(name: &str) -> String {
    let body = STANDALONE.iter().find(|(n, _)| *n == name).map_or("", |(_, body)| body);
    match name {
        "carry" | "analysis" => format!("{FULLSCREEN}\n{MOTION_FIELD}\n{body}"),
        _ => format!("{FULLSCREEN}\n{body}"),
    }
}

/// The full source of an effect shader.
pub fn effect_source(body: &str) -> String {
    format!("{FULLSCREEN}\n{COMMON}\n{body}")
}

/// Every complete shader source, for validation: (name, source).
pub fn all_sources() -> Vec<(&'static str, String)> {
    STANDALONE
        .iter()
        .map(|(name, _)| (*name, standalone(name)))
        .chain(EFFECTS.iter().map(|(name, body)| (*name, effect_source(body))))
        .collect()
}
