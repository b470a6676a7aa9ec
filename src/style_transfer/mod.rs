//! Fast feed-forward style transfer for `style` layers and the restyle fallback: multistyle26
//! with blended built-in styles, or the arbitrary-style pair with a style vector predicted once
//! from any picture.
//!
//! Which style a layer asks for and the network's input are portable: the browser runs the same
//! network on its own sessions. The native engine is `engine.rs`.

#[cfg(not(target_family = "wasm"))]
mod engine;
mod names;

#[cfg(not(target_family = "wasm"))]
pub(crate) use engine::StyleEngine;
#[cfg(not(target_family = "wasm"))]
pub use engine::StyleError;
pub use names::{STYLE_NAMES, StyleName, style_for_prompt};

use image::RgbImage;
use ndarray::{Array4, ArrayD};

use crate::{
    effects::{Effect, StyleWeight},
    inference::preprocess,
    store::manifest::InputContract,
};

/// The style-transfer model used by `style` layers with built-in styles.
pub const STYLE_MODEL: &str = "multistyle26";
/// The arbitrary-style pair used by `style` layers with a style image.
pub const STYLE_PREDICT_MODEL: &str = "arbitrary-style-predict";
/// See [`STYLE_PREDICT_MODEL`].
pub const STYLE_TRANSFORM_MODEL: &str = "arbitrary-style-transform";
/// Styles `multistyle26` blends.
pub const STYLE_COUNT: usize = 26;
/// The built-in style a `restyle` layer falls back to when it names none and its prompt names
/// none either.
pub const FALLBACK_STYLE: usize = 13;
/// Width the style network runs at (its cost grows with the pixel count).
const STYLE_WIDTH: u32 = 512;

/// The style a `style` or `restyle` layer asks style transfer for.
#[derive(Debug, Clone, PartialEq)]
pub enum StyleChoice {
    /// multistyle26's built-in styles, blended.
    Builtin(Vec<StyleWeight>),
    /// Any picture, through the arbitrary-style pair (a path relative to the preset).
    Image(String),
}

impl StyleChoice {
    /// What `effect` asks style transfer for: a `style` layer's styles or image, or a `restyle`
    /// layer's fallback ([`FALLBACK_STYLE`] when it names none); `None` for other effects.
    pub fn of(effect: &Effect) -> Option<Self> {
        match effect {
            Effect::Style { styles, image, .. } => Some(match image {
                Some(path) => StyleChoice::Image(path.clone()),
                None => StyleChoice::Builtin(styles.clone()),
            }),
            Effect::Restyle { styles, image, prompt, .. } => {
                Some(Self::restyle_fallback(styles, image.as_deref(), prompt))
            }
            _ => None,
        }
    }

    /// A `restyle` layer's style when no diffusion model runs: its image, else its styles, else
    /// the built-in style its prompt's words name, else [`FALLBACK_STYLE`].
    pub fn restyle_fallback(styles: &[StyleWeight], image: Option<&str>, prompt: &str) -> Self {
        match image {
            Some(path) => StyleChoice::Image(path.to_owned()),
            None if styles.is_empty() => {
                let style = style_for_prompt(prompt).unwrap_or(FALLBACK_STYLE);
                StyleChoice::Builtin(vec![StyleWeight { style, weight: 1.0 }])
            }
            None => StyleChoice::Builtin(styles.to_vec()),
        }
    }

    /// How the choice reads in a label: "built-in style 19 (swirling night)", "built-in style
    /// 19+5" or "the style of NAME".
    pub fn describe(&self) -> String {
        match self {
            StyleChoice::Builtin(styles) if styles.len() == 1 => {
                let style = styles[0].style;
                let name = STYLE_NAMES.get(style).map_or("", |s| s.name);
                format!("built-in style {style} ({name})")
            }
            StyleChoice::Builtin(styles) => format!(
                "built-in style {}",
                styles.iter().map(|s| s.style.to_string()).collect::<Vec<_>>().join("+")
            ),
            StyleChoice::Image(path) => {
                let name = std::path::Path::new(path)
                    .file_name()
                    .map_or_else(|| path.clone(), |name| name.to_string_lossy().into_owned());
                format!("the style of {name}")
            }
        }
    }
}

/// The style model's `style_weights` input for a blend of styles (normalised to sum to 1).
pub fn style_weights(styles: &[StyleWeight]) -> ArrayD<f32> {
    let total: f32 = styles.iter().map(|w| w.weight).sum();
    let mut weights = ArrayD::zeros(vec![STYLE_COUNT]);
    for w in styles {
        weights[[w.style]] += w.weight / total;
    }
    weights
}

/// The network's input: `frame` at [`STYLE_WIDTH`] in its own aspect, laid out as `contract`
/// says.
pub fn network_input(frame: &RgbImage, contract: &InputContract) -> Array4<f32> {
    let height = (frame.height() * STYLE_WIDTH / frame.width().max(1)).max(4);
    let (w, h) = preprocess::input_size(contract, STYLE_WIDTH, height);
    preprocess::to_tensor(&crate::resize::rgb(frame, w, h), contract)
}
