//! What the effects are, as plain data: layers, their parameters, presets and LUT files. The
//! compositor in `render` turns these into GPU passes; nothing here knows wgpu.

pub mod lut;
pub mod preset;

use serde::Deserialize;

use crate::scene::Region;

/// A preset or one of its files is wrong. The message names the file, the line and the problem.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {problem}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PresetError {
    /// The preset (or LUT) file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub problem: String,
}

/// An sRGB colour written as `"#rrggbb"` in presets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Colour(pub [f32; 3]);

impl<'de> Deserialize<'de> for Colour {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Colour::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a colour; write it as \"#rrggbb\""))
        })
    }
}

impl Colour {
    /// Parses `#rrggbb`.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix('#')?;
        // Byte slicing below needs ASCII: a multi-byte character would split mid-character.
        if hex.len() != 6 || !hex.is_ascii() {
            return None;
        }
        let channel =
            |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok().map(|v| v as f32 / 255.0);
        Some(Colour([channel(0)?, channel(2)?, channel(4)?]))
    }
}

/// Which pixels a layer changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(untagged)]
pub enum RegionSelector {
    /// The whole frame.
    #[default]
    Everything,
    /// Pixels of these regions or class labels (`"wall"`, `"furniture"`, `"sofa"`).
    Named(Vec<String>),
}

/// A name in a preset's `regions` that is neither a region nor a class of the segmentation
/// model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{name}` is neither a region ({regions}) nor a class of the segmentation model",
    regions = Region::ALL.map(|r| r.name()).join(", ")
)]
pub struct UnknownRegion {
    /// The name as the preset gives it.
    pub name: String,
}

impl RegionSelector {
    /// Class ids selected, for a segmentation model with these labels. Names that are neither a
    /// region nor a label are returned as errors so presets fail loudly.
    pub fn class_ids(&self, labels: &[String]) -> Result<Vec<u8>, UnknownRegion> {
        let RegionSelector::Named(names) = self else {
            return Ok((0..labels.len().min(256) as u16).map(|i| i as u8).collect());
        };
        let mut ids = Vec::new();
        for name in names {
            let region = Region::ALL.into_iter().find(|r| r.name() == name);
            let matched: Vec<u8> = labels
                .iter()
                .enumerate()
                .filter(|(_, label)| match region {
                    Some(region) => Region::of_label(label) == region,
                    None => *label == name,
                })
                .map(|(i, _)| i as u8)
                .collect();
            if matched.is_empty() && region.is_none() {
                return Err(UnknownRegion { name: name.clone() });
            }
            ids.extend(matched);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// True when the layer needs a segmentation model.
    pub fn needs_segmentation(&self) -> bool {
        matches!(self, RegionSelector::Named(_))
    }

    /// True when people must stay out of the selected pixels, where a person mask is at hand: a
    /// layer on the room's surfaces behind them (walls, floor, ceiling) never paints a person
    /// standing in front, whatever the segmentation model reads there. Layers on furniture keep
    /// every pixel the model gives them: the person model's false alarms on upholstery would cut
    /// holes in a re-textured sofa.
    pub fn spares_people(&self) -> bool {
        self.all_named(|region| matches!(region, Region::Wall | Region::Floor | Region::Ceiling))
    }

    /// True when the selected surfaces are painted one colour (walls, ceilings): a pixel whose
    /// colour lies far from the colour of their interior is something in front of them, and
    /// leaves the selection ([`crate::region_colour`]). Floors (planks, rugs) and furniture
    /// (a cushion on a sofa) have many colours.
    pub fn painted_one_colour(&self) -> bool {
        self.all_named(|region| matches!(region, Region::Wall | Region::Ceiling))
    }

    /// True when regions are named, and each name (a region or a class label) is a region that
    /// `is` holds for.
    fn all_named(&self, is: impl Fn(Region) -> bool) -> bool {
        let RegionSelector::Named(names) = self else { return false };
        let region_of = |name: &String| {
            let region = Region::ALL.into_iter().find(|r| r.name() == name);
            region.unwrap_or_else(|| Region::of_label(name))
        };
        !names.is_empty() && names.iter().all(|name| is(region_of(name)))
    }
}

/// Procedural surface patterns the project draws itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Vertical wallpaper stripes with a thin pinstripe.
    Stripes,
    /// Wood planks with grain.
    Wood,
    /// Veined marble.
    Marble,
    /// Square tiles with grout.
    Tiles,
}

impl Pattern {
    /// Every pattern, for pickers.
    pub const ALL: [Pattern; 4] =
        [Pattern::Stripes, Pattern::Wood, Pattern::Marble, Pattern::Tiles];

    /// The name presets use.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Stripes => "stripes",
            Pattern::Wood => "wood",
            Pattern::Marble => "marble",
            Pattern::Tiles => "tiles",
        }
    }

    /// Index passed to the shader.
    pub fn index(self) -> u32 {
        self as u32
    }
}

/// Built-in style of the multi-style network by index, with a weight.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleWeight {
    /// Style index, 0..26.
    pub style: usize,
    /// Blend weight; weights are normalised to sum to 1.
    pub weight: f32,
}

fn one() -> f32 {
    1.0
}

fn default_denoise() -> f32 {
    0.5
}

fn default_steps() -> usize {
    2
}

/// One effect and its parameters. Presets name it with `effect = "..."`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Effect {
    /// Recolour a region, keeping its light and shadow.
    Repaint {
        /// Target paint colour.
        colour: Colour,
        /// 0..1 mix with the original.
        #[serde(default = "one")]
        strength: f32,
    },
    /// Fill a region with a pattern, shaded by the original lighting.
    Texture {
        /// Which pattern.
        pattern: Pattern,
        /// Main colour.
        colour: Colour,
        /// Second colour (stripes, veins, grout, grain).
        accent: Colour,
        /// Pattern repeats across the frame width.
        #[serde(default = "default_pattern_scale")]
        scale: f32,
        /// 0..1 mix with the original.
        #[serde(default = "one")]
        strength: f32,
    },
    /// Blur what is not a person.
    BackgroundBlur {
        /// Blur radius in pixels at 1280 px width.
        #[serde(default = "default_blur_radius")]
        radius: f32,
        /// Person probability where the mask switches.
        #[serde(default = "default_threshold")]
        threshold: f32,
        /// Softness of the switch (probability units).
        #[serde(default = "default_feather")]
        feather: f32,
    },
    /// Replace what is not a person with a colour gradient.
    BackgroundReplace {
        /// Top colour of the backdrop.
        colour: Colour,
        /// Bottom colour of the backdrop.
        accent: Colour,
        /// Person probability where the mask switches.
        #[serde(default = "default_threshold")]
        threshold: f32,
        /// Softness of the switch.
        #[serde(default = "default_feather")]
        feather: f32,
    },
    /// Depth of field: sharp at the focus depth, blurred in front and behind.
    DepthOfField {
        /// Focus as normalised inverse depth (1 = nearest); `None` focuses at `focus_point`.
        focus_depth: Option<f32>,
        /// Focus point in 0..1 frame coordinates, used when `focus_depth` is absent.
        #[serde(default = "default_focus_point")]
        focus_point: [f32; 2],
        /// Largest blur radius in pixels at 1280 px width.
        #[serde(default = "default_bokeh_radius")]
        strength: f32,
    },
    /// Fog that thickens with distance.
    DepthFog {
        /// Fog colour.
        colour: Colour,
        /// 0..1 opacity at the far end.
        #[serde(default = "default_fog_density")]
        density: f32,
    },
    /// Neural style transfer (multistyle26), full frame or in a region.
    Style {
        /// Built-in styles of the multi-style network and their blend weights.
        #[serde(default)]
        styles: Vec<StyleWeight>,
        /// Any painting or photo as the style (arbitrary style transfer), instead of `styles`;
        /// a path relative to the preset file.
        image: Option<String>,
        /// 0..1 mix with the original.
        #[serde(default = "one")]
        strength: f32,
    },
    /// The picture restyled from a text prompt by a few-step diffusion model (or by style
    /// transfer when none is installed), projected onto the live frame between keyframes.
    Restyle {
        /// What the picture should become.
        prompt: String,
        /// What to steer away from (used with guidance only).
        #[serde(default)]
        negative_prompt: String,
        /// How much of the picture is re-imagined, 0..1 (img2img strength).
        #[serde(default = "default_denoise")]
        denoise: f32,
        /// Scheduled steps; `floor(steps * denoise)` of them run.
        #[serde(default = "default_steps")]
        steps: usize,
        /// Classifier-free guidance scale; at most 1 is off (turbo models).
        #[serde(default)]
        guidance: f32,
        /// Noise seed: the same seed gives the same picture.
        #[serde(default)]
        seed: u64,
        /// Built-in styles for the style-transfer fallback.
        #[serde(default)]
        styles: Vec<StyleWeight>,
        /// A style image for the fallback, instead of `styles`.
        image: Option<String>,
        /// 0..1 mix with the original.
        #[serde(default = "one")]
        strength: f32,
    },
    /// A 3D colour lookup table from a `.cube` file (relative to the preset file).
    Lut {
        /// The `.cube` file.
        file: String,
        /// 0..1 mix with the original.
        #[serde(default = "one")]
        strength: f32,
    },
    /// Cartoon look: posterised colour with dark edges.
    Toon {
        /// Colour levels per channel.
        #[serde(default = "default_levels")]
        levels: f32,
        /// Edge darkness 0..1.
        #[serde(default = "one")]
        edges: f32,
    },
    /// Film grain.
    Grain {
        /// Grain amplitude 0..1.
        #[serde(default = "default_grain")]
        amount: f32,
    },
    /// Darkened corners.
    Vignette {
        /// Corner darkening 0..1.
        #[serde(default = "default_vignette")]
        amount: f32,
    },
}

fn default_pattern_scale() -> f32 {
    12.0
}
fn default_blur_radius() -> f32 {
    18.0
}
fn default_threshold() -> f32 {
    0.5
}
fn default_feather() -> f32 {
    0.2
}
fn default_focus_point() -> [f32; 2] {
    [0.5, 0.5]
}
fn default_bokeh_radius() -> f32 {
    14.0
}
fn default_fog_density() -> f32 {
    0.7
}
fn default_levels() -> f32 {
    5.0
}
fn default_grain() -> f32 {
    0.08
}
fn default_vignette() -> f32 {
    0.45
}

impl Effect {
    /// The name presets give it (`effect = "depth-of-field"`), which is also what users see.
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Repaint { .. } => "repaint",
            Effect::Texture { .. } => "texture",
            Effect::BackgroundBlur { .. } => "background-blur",
            Effect::BackgroundReplace { .. } => "background-replace",
            Effect::DepthOfField { .. } => "depth-of-field",
            Effect::DepthFog { .. } => "depth-fog",
            Effect::Style { .. } => "style",
            Effect::Restyle { .. } => "restyle",
            Effect::Lut { .. } => "lut",
            Effect::Toon { .. } => "toon",
            Effect::Grain { .. } => "grain",
            Effect::Vignette { .. } => "vignette",
        }
    }

    /// Needs the person mask.
    pub fn needs_person(&self) -> bool {
        matches!(self, Effect::BackgroundBlur { .. } | Effect::BackgroundReplace { .. })
    }

    /// Needs the depth map.
    pub fn needs_depth(&self) -> bool {
        matches!(
            self,
            Effect::DepthOfField { .. } | Effect::DepthFog { .. } | Effect::Texture { .. }
        )
    }

    /// Needs a stylized picture (style transfer or restyle).
    pub fn needs_style(&self) -> bool {
        matches!(self, Effect::Style { .. } | Effect::Restyle { .. })
    }
}

/// An effect applied to a region.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Layer {
    /// Pixels the layer changes (default: everything).
    #[serde(default)]
    pub region: RegionSelector,
    /// The effect.
    #[serde(flatten)]
    pub effect: Effect,
}

/// Gives every `restyle` layer of `layers` the prompt `prompt`; false when there is none.
pub fn set_restyle_prompt(layers: &mut [Layer], prompt: &str) -> bool {
    let mut found = false;
    for layer in layers {
        if let Effect::Restyle { prompt: p, .. } = &mut layer.effect {
            prompt.clone_into(p);
            found = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["other", "wall", "floor", "sofa", "rug"].map(String::from).to_vec()
    }

    #[test]
    fn people_stay_out_of_the_surfaces_behind_them_only() {
        let named =
            |names: &[&str]| RegionSelector::Named(names.iter().map(|n| (*n).into()).collect());
        assert!(named(&["wall"]).spares_people());
        assert!(named(&["wall", "floor", "rug"]).spares_people());
        assert!(!named(&["furniture"]).spares_people());
        assert!(!named(&["wall", "person"]).spares_people());
        assert!(!RegionSelector::Everything.spares_people());
    }

    #[test]
    fn regions_and_labels_select_class_ids() {
        let wall = RegionSelector::Named(vec!["wall".into()]);
        assert_eq!(wall.class_ids(&labels()), Ok(vec![1]));
        let floor = RegionSelector::Named(vec!["floor".into(), "sofa".into()]);
        assert_eq!(floor.class_ids(&labels()), Ok(vec![2, 3, 4]));
        assert_eq!(RegionSelector::Everything.class_ids(&labels()).map(|v| v.len()), Ok(5));
        let bad = RegionSelector::Named(vec!["walls".into()]);
        assert!(bad.class_ids(&labels()).expect_err("unknown").to_string().contains("`walls`"));
    }

    #[test]
    fn colours_parse_from_hex() {
        assert_eq!(Colour::parse("#ff0080"), Some(Colour([1.0, 0.0, 128.0 / 255.0])));
        assert_eq!(Colour::parse("ff0080"), None);
        assert_eq!(Colour::parse("#ff00"), None);
        // Six bytes but not six ASCII digits: must be refused, not sliced mid-character.
        assert_eq!(Colour::parse("#ffé00"), None);
        assert_eq!(Colour::parse("#€€"), None);
    }
}
