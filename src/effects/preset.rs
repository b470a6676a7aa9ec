//! Presets: TOML files naming a stack of layers (`assets/presets/*.toml`).
//!
//! ```toml
//! description = "Walls repainted sage green"
//! [[layer]]
//! effect = "repaint"
//! region = ["wall"]
//! colour = "#9caf88"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use super::PresetError;
use super::{Effect, Layer, StyleWeight, lut::Lut};

/// The presets shipped with the app, embedded so they work from any folder.
const BUILTIN: [(&str, &str); 11] = [
    ("wall-paint", include_str!("../../assets/presets/wall-paint.toml")),
    ("wallpaper", include_str!("../../assets/presets/wallpaper.toml")),
    ("portrait-blur", include_str!("../../assets/presets/portrait-blur.toml")),
    ("bokeh", include_str!("../../assets/presets/bokeh.toml")),
    ("painting", include_str!("../../assets/presets/painting.toml")),
    ("toon", include_str!("../../assets/presets/toon.toml")),
    ("film", include_str!("../../assets/presets/film.toml")),
    ("fog", include_str!("../../assets/presets/fog.toml")),
    ("painted-walls", include_str!("../../assets/presets/painted-walls.toml")),
    ("restyle", include_str!("../../assets/presets/restyle.toml")),
    ("restyle-walls", include_str!("../../assets/presets/restyle-walls.toml")),
];

/// LUTs shipped with the app, by file name, for the built-in presets.
const BUILTIN_LUTS: [(&str, &str); 2] = [
    ("film.cube", include_str!("../../assets/luts/film.cube")),
    ("teal-orange.cube", include_str!("../../assets/luts/teal-orange.cube")),
];

/// A loaded preset: its layers, with LUT files already read.
#[derive(Debug, Clone)]
pub struct Preset {
    /// Name (file stem).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// Parsed LUTs, one per `lut` layer, in layer order.
    pub luts: Vec<Lut>,
    /// The segmentation model the preset's regions are read with, when it names one.
    pub segmentation_model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    #[serde(default)]
    description: String,
    segmentation_model: Option<String>,
    #[serde(default)]
    layer: Vec<toml::Value>,
}

impl Preset {
    /// This preset with `prompt` as the prompt of its restyle layers; a preset without one gets
    /// a full-frame restyle layer on top.
    pub fn with_restyle(mut self, prompt: &str) -> Result<Self, PresetError> {
        if prompt.trim().is_empty() {
            return Err(PresetError {
                file: self.name.clone(),
                line: None,
                problem: "the restyle prompt is empty; say what the picture should become".into(),
            });
        }
        let found = super::set_restyle_prompt(&mut self.layers, prompt);
        if !found {
            let layer: Layer = toml::from_str(&format!(
                "effect = \"restyle\"\nprompt = {}",
                toml::Value::String(prompt.to_owned())
            ))
            .map_err(|e| PresetError {
                file: self.name.clone(),
                line: None,
                problem: e.message().to_owned(),
            })?;
            self.layers.push(layer);
        }
        Ok(self)
    }

    /// Names of the built-in presets.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// A built-in preset by name, or a preset file by path.
    pub fn load(name_or_path: &str) -> Result<Self, PresetError> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text, &format!("assets/presets/{name}.toml"), name, None);
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            let names = Self::builtin_names().collect::<Vec<_>>().join(", ");
            let problem = match (e.kind(), closest_builtin(name_or_path)) {
                // A name, not a file: what the user most likely meant, before any OS error.
                (std::io::ErrorKind::NotFound, Some(near)) => {
                    format!("no such preset; did you mean {near}? The built-in presets: {names}")
                }
                (std::io::ErrorKind::NotFound, None) => format!(
                    "no built-in preset and no file of that name; give a preset file or one of \
                     the built-in presets: {names}"
                ),
                _ => format!("{e}; give a preset file or one of the built-in presets: {names}"),
            };
            PresetError { file: name_or_path.to_owned(), line: None, problem }
        })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Self::parse(&text, &path.display().to_string(), &name, path.parent())
    }

    /// Parses preset text; `file` names it in errors. `dir` is the folder of a user's preset
    /// file, against which its relative paths resolve; `None` for a built-in preset, whose LUTs
    /// come only from the built-in assets.
    pub fn parse(
        text: &str,
        file: &str,
        name: &str,
        dir: Option<&Path>,
    ) -> Result<Self, PresetError> {
        let error = |line: Option<usize>, problem: String| PresetError {
            file: file.to_owned(),
            line,
            problem,
        };
        let raw: PresetFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            error(line, e.message().to_owned())
        })?;
        let layer_lines = layer_header_lines(text);
        let mut layers = Vec::with_capacity(raw.layer.len());
        let mut luts = Vec::new();
        for (index, value) in raw.layer.into_iter().enumerate() {
            let line = layer_lines.get(index).copied();
            let mut layer: Layer = value.try_into().map_err(|e: toml::de::Error| {
                error(line, format!("layer {}: {}", index + 1, e.message()))
            })?;
            if let (
                Effect::Style { image: Some(image), .. }
                | Effect::Restyle { image: Some(image), .. },
                Some(dir),
            ) = (&mut layer.effect, dir)
            {
                *image = dir.join(&*image).display().to_string();
            }
            if let Effect::Lut { file: lut_file, .. } = &layer.effect {
                luts.push(load_lut(lut_file, dir).map_err(|e| match e {
                    LutLoad::Missing(problem) => error(line, problem),
                    LutLoad::Bad(e) => e,
                })?);
            }
            validate(&layer.effect)
                .map_err(|p| error(line, format!("layer {}: {p}", index + 1)))?;
            layers.push(layer);
        }
        if layers.is_empty() {
            return Err(error(None, "the preset has no [[layer]]".into()));
        }
        Ok(Preset {
            name: name.to_owned(),
            description: raw.description,
            layers,
            luts,
            segmentation_model: raw.segmentation_model,
        })
    }

    /// The segmentation model to run: the one `chosen` on the command line or in the page's
    /// address, else the one the preset names, else the default.
    pub fn segmentation_model_or(&self, chosen: Option<&str>) -> String {
        chosen
            .or(self.segmentation_model.as_deref())
            .unwrap_or(crate::store::manifest::DEFAULT_SEGMENTATION_MODEL)
            .to_owned()
    }

    /// True when some layer needs the segmentation model.
    pub fn needs_segmentation(&self) -> bool {
        self.layers.iter().any(|l| l.region.needs_segmentation())
    }

    /// True when some layer needs the person mask.
    pub fn needs_person(&self) -> bool {
        self.layers.iter().any(|l| l.effect.needs_person() || l.region.spares_people())
    }

    /// True when some layer needs depth.
    pub fn needs_depth(&self) -> bool {
        self.layers.iter().any(|l| l.effect.needs_depth())
    }

    /// True when some layer runs style transfer.
    pub fn needs_style(&self) -> bool {
        self.layers.iter().any(|l| l.effect.needs_style())
    }
}

enum LutLoad {
    Missing(String),
    Bad(PresetError),
}

/// A LUT named by a preset. Built-in presets (`dir` None) use only the built-in LUTs, so a file
/// of the same name in the working folder cannot replace them; a user preset's relative path is
/// resolved against its own folder, then against the built-in names.
fn load_lut(file: &str, dir: Option<&Path>) -> Result<Lut, LutLoad> {
    let builtin = BUILTIN_LUTS.iter().find(|(name, _)| *name == file);
    if let Some(dir) = dir {
        let path: PathBuf = dir.join(file);
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| {
                LutLoad::Missing(format!("cannot read LUT {}: {e}", path.display()))
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                LutLoad::Missing(format!(
                    "LUT {} is not text (invalid UTF-8 at byte {}); give a .cube file",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            return Lut::parse(&text, &path.display().to_string()).map_err(LutLoad::Bad);
        }
        if builtin.is_none() {
            return Err(LutLoad::Missing(format!(
                "LUT file {} not found (built-in LUTs: {})",
                path.display(),
                BUILTIN_LUTS.map(|(n, _)| n).join(", ")
            )));
        }
    }
    match builtin {
        Some((name, text)) => {
            Lut::parse(text, &format!("assets/luts/{name}")).map_err(LutLoad::Bad)
        }
        None => Err(LutLoad::Missing(format!(
            "LUT {file} is not a built-in LUT (built-in LUTs: {})",
            BUILTIN_LUTS.map(|(n, _)| n).join(", ")
        ))),
    }
}

/// Why a layer's settings cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayerProblem {
    /// A setting outside the range it takes.
    #[error("`{setting}` must be within {range}, got {value}")]
    OutOfRange {
        /// The setting's name in the preset.
        setting: &'static str,
        /// The range it takes.
        range: &'static str,
        /// What the preset gives.
        value: f32,
    },
    /// A texture scale of zero or less.
    #[error("`scale` must be positive, got {0}")]
    ScaleNotPositive(f32),
    /// A restyle layer with no prompt.
    #[error("`prompt` is empty; say what the picture should become")]
    EmptyPrompt,
    /// A step count outside 1..50.
    #[error("`steps` must be within 1..50, got {0}")]
    Steps(usize),
    /// Both built-in styles and a style picture.
    #[error("give either `styles` or `image`, not both")]
    StylesAndImage,
    /// A style picture that is not there.
    #[error("style image {0} not found")]
    NoStyleImage(String),
    /// A style layer with neither styles nor a picture.
    #[error("`styles` needs at least one {{ style = N, weight = W }}, or give `image`")]
    NoStyles,
    /// A built-in style number that does not exist.
    #[error("style {0} does not exist (0..25)")]
    NoSuchStyle(usize),
    /// Style weights that add up to nothing.
    #[error("style weights must sum to more than 0")]
    ZeroWeights,
}

/// `value` within `low..=high`, else the problem naming `setting` and `range`.
fn within(
    setting: &'static str,
    range: &'static str,
    (low, high): (f32, f32),
    value: f32,
) -> Result<(), LayerProblem> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(LayerProblem::OutOfRange { setting, range, value })
    }
}

fn validate(effect: &Effect) -> Result<(), LayerProblem> {
    let unit = |setting, value| within(setting, "0..1", (0.0, 1.0), value);
    match effect {
        Effect::Repaint { strength, .. } | Effect::Lut { strength, .. } => {
            unit("strength", *strength)
        }
        Effect::Texture { strength, scale, .. } => {
            unit("strength", *strength)?;
            if *scale <= 0.0 { Err(LayerProblem::ScaleNotPositive(*scale)) } else { Ok(()) }
        }
        Effect::BackgroundBlur { threshold, feather, radius } => {
            unit("threshold", *threshold)?;
            unit("feather", *feather)?;
            within("radius", "0..64", (0.0, 64.0), *radius)
        }
        Effect::BackgroundReplace { threshold, feather, .. } => {
            unit("threshold", *threshold)?;
            unit("feather", *feather)
        }
        Effect::DepthOfField { focus_depth, strength, .. } => {
            if let Some(f) = focus_depth {
                unit("focus_depth", *f)?;
            }
            within("strength", "0..48", (0.0, 48.0), *strength)
        }
        Effect::DepthFog { density, .. } => unit("density", *density),
        Effect::Restyle { prompt, denoise, steps, guidance, styles, image, strength, .. } => {
            unit("strength", *strength)?;
            unit("denoise", *denoise)?;
            if prompt.trim().is_empty() {
                return Err(LayerProblem::EmptyPrompt);
            }
            if *steps == 0 || *steps > 50 {
                return Err(LayerProblem::Steps(*steps));
            }
            within("guidance", "0..30", (0.0, 30.0), *guidance)?;
            validate_styles(styles, image.as_deref(), true)
        }
        Effect::Style { styles, image, strength } => {
            unit("strength", *strength)?;
            validate_styles(styles, image.as_deref(), false)
        }
        Effect::Toon { levels, edges } => {
            unit("edges", *edges)?;
            within("levels", "2..32", (2.0, 32.0), *levels)
        }
        Effect::Grain { amount } | Effect::Vignette { amount } => unit("amount", *amount),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Lines of each `[[layer]]` header, in order.
fn layer_header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[layer]]"))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Built-in style weights or a style image, not both; the restyle fallback may have neither
/// (it then uses the default style).
fn validate_styles(
    styles: &[StyleWeight],
    image: Option<&str>,
    optional: bool,
) -> Result<(), LayerProblem> {
    if let Some(image) = image {
        if !styles.is_empty() {
            return Err(LayerProblem::StylesAndImage);
        }
        if !Path::new(image).is_file() {
            return Err(LayerProblem::NoStyleImage(image.to_owned()));
        }
        return Ok(());
    }
    if styles.is_empty() {
        return if optional { Ok(()) } else { Err(LayerProblem::NoStyles) };
    }
    if let Some(s) = styles.iter().find(|s| s.style >= 26) {
        return Err(LayerProblem::NoSuchStyle(s.style));
    }
    if styles.iter().map(|s| s.weight).sum::<f32>() <= 0.0 {
        return Err(LayerProblem::ZeroWeights);
    }
    Ok(())
}

/// The built-in preset within two edits of `name` (a typo), if there is one.
fn closest_builtin(name: &str) -> Option<&'static str> {
    /// Levenshtein distance.
    fn edits(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
                diagonal = above;
            }
        }
        row[b.len()]
    }
    let name = name.to_ascii_lowercase();
    Preset::builtin_names()
        .map(|n| (edits(&name, n), n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_effect_is_named_as_its_preset_names_it() {
        for (name, text) in BUILTIN {
            let preset = Preset::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            for layer in &preset.layers {
                let written = format!("effect = \"{}\"", layer.effect.name());
                assert!(text.contains(&written), "{name}: no `{written}` in its file");
            }
        }
    }

    #[test]
    fn the_segmentation_model_is_the_chosen_one_then_the_presets_then_the_default() {
        let text = "segmentation_model = \"ade20k-deeplabv3-mnv2\"\n[[layer]]\neffect = \"repaint\"\nregion = [\"wall\"]\ncolour = \"#9caf88\"\n";
        let named = Preset::parse(text, "test.toml", "test", None).expect("parses");
        assert_eq!(named.segmentation_model_or(None), "ade20k-deeplabv3-mnv2");
        assert_eq!(named.segmentation_model_or(Some("other")), "other");
        let plain = Preset::load("wall-paint").expect("built in");
        assert_eq!(
            plain.segmentation_model_or(None),
            crate::store::manifest::DEFAULT_SEGMENTATION_MODEL
        );
    }

    #[test]
    fn every_builtin_preset_loads() {
        for name in Preset::builtin_names() {
            let preset = Preset::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!preset.layers.is_empty() && !preset.description.is_empty(), "{name}");
        }
        assert!(Preset::load("wall-paint").expect("ok").needs_segmentation());
        assert!(Preset::load("portrait-blur").expect("ok").needs_person());
        assert!(Preset::load("bokeh").expect("ok").needs_depth());
        assert_eq!(Preset::load("film").expect("ok").luts.len(), 1);
    }

    #[test]
    fn builtin_luts_cannot_be_replaced_and_user_luts_resolve_next_to_their_preset() {
        let dir = tempfile::tempdir().expect("temp");
        // A `film.cube` where a built-in preset might look: its table is all black.
        let black: String = "LUT_3D_SIZE 2\n".to_owned() + &"0 0 0\n".repeat(8);
        std::fs::write(dir.path().join("film.cube"), &black).expect("write");
        let builtin = Preset::load("film").expect("built-in film");
        assert_ne!(builtin.luts[0], Lut::parse(&black, "x").expect("parses"), "built-in kept");
        // A user preset naming the same file gets its own folder's file.
        let user = dir.path().join("mine.toml");
        std::fs::write(&user, "[[layer]]\neffect = \"lut\"\nfile = \"film.cube\"\n")
            .expect("write");
        let preset = Preset::load(&user.display().to_string()).expect("user preset");
        assert_eq!(preset.luts[0].table, vec![[0.0; 3]; 8]);
        // A user preset naming a built-in LUT it does not have gets the built-in one.
        std::fs::write(&user, "[[layer]]\neffect = \"lut\"\nfile = \"teal-orange.cube\"\n")
            .expect("write");
        assert!(Preset::load(&user.display().to_string()).is_ok());
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let text = "description = \"x\"\n\n[[layer]]\neffect = \"repaint\"\ncolour = \"#zzzzzz\"\n";
        let error = Preset::parse(text, "my.toml", "my", None).expect_err("bad colour").to_string();
        assert!(error.starts_with("my.toml:3:") && error.contains("#zzzzzz"), "{error}");

        let text = "[[layer]]\neffect = \"repaint\"\ncolour = \"#ffffff\"\n[[layer]]\neffect = \"sparkle\"\n";
        let error = Preset::parse(text, "my.toml", "my", None).expect_err("bad effect").to_string();
        assert!(error.starts_with("my.toml:4:") && error.contains("sparkle"), "{error}");

        let text = "[[layer]]\neffect = \"grain\"\namount = 3.0\n";
        let error = Preset::parse(text, "my.toml", "my", None).expect_err("range").to_string();
        assert!(error.contains("`amount` must be within 0..1"), "{error}");

        let text = "descripton = \"typo\"\n[[layer]]\neffect = \"grain\"\n";
        let error =
            Preset::parse(text, "my.toml", "my", None).expect_err("unknown key").to_string();
        assert!(error.starts_with("my.toml:1:") && error.contains("descripton"), "{error}");

        let text = "[[layer]]\neffect = \"lut\"\nfile = \"nope.cube\"\n";
        let error =
            Preset::parse(text, "my.toml", "my", None).expect_err("missing lut").to_string();
        assert!(error.contains("nope.cube") && error.contains("film.cube"), "{error}");

        let text = "[[layer]]\neffect = \"repaint\"\ncolour = \"#ffffff\"\nstrenght = 1.0\n";
        let error =
            Preset::parse(text, "my.toml", "my", None).expect_err("typo in layer").to_string();
        assert!(error.contains("strenght"), "{error}");
    }

    #[test]
    fn a_misspelt_preset_gets_a_suggestion_first() {
        let error = Preset::load("wal-paint").expect_err("no such preset").to_string();
        assert!(error.contains("did you mean wall-paint?"), "{error}");
        assert!(!error.contains("os error"), "{error}");
        let error = Preset::load("sunset-glow").expect_err("no such preset").to_string();
        assert!(!error.contains("did you mean"), "{error}");
        assert!(error.contains("wall-paint, wallpaper"), "{error}");
    }
}
