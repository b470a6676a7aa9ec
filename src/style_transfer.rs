//! Fast feed-forward style transfer for `style` layers and the restyle fallback: multistyle26
//! with blended built-in styles, or the arbitrary-style pair with a style vector predicted once
//! from any picture.

use image::{RgbImage, RgbaImage};
use ndarray::ArrayD;

use crate::{
    inference::{InferenceError, ModelSession, SessionOptions, preprocess},
    store::ModelStore,
};

/// The style-transfer model used by `style` layers with built-in styles.
pub const STYLE_MODEL: &str = "multistyle26";
/// The arbitrary-style pair used by `style` layers with a style image.
pub const STYLE_PREDICT_MODEL: &str = "arbitrary-style-predict";
/// See [`STYLE_PREDICT_MODEL`].
pub const STYLE_TRANSFORM_MODEL: &str = "arbitrary-style-transform";
/// Width the style network runs at (its cost grows with the pixel count).
const STYLE_WIDTH: u32 = 512;
/// Styles `multistyle26` blends.
pub const STYLE_COUNT: usize = 26;

/// The style model's `style_weights` input for a blend of styles (normalised to sum to 1).
pub(crate) fn style_weights(styles: &[crate::effects::StyleWeight]) -> ArrayD<f32> {
    let total: f32 = styles.iter().map(|w| w.weight).sum();
    let mut weights = ArrayD::zeros(vec![STYLE_COUNT]);
    for w in styles {
        weights[[w.style]] += w.weight / total;
    }
    weights
}

/// How the `style` layer stylizes frames.
pub(crate) enum StyleEngine {
    /// multistyle26 with blended built-in style weights.
    Multi { session: ModelSession, weights: ArrayD<f32> },
    /// The arbitrary-style transformer with a style vector predicted once from an image.
    Arbitrary { session: ModelSession, style_vector: ArrayD<f32> },
}

impl StyleEngine {
    pub(crate) fn open(
        store: &ModelStore,
        options: &SessionOptions,
        styles: &[crate::effects::StyleWeight],
        image: Option<&str>,
    ) -> Result<Self, String> {
        let open = |id: &str| {
            let model = if options.serves_remotely(id) {
                store.locate_or_describe(id)
            } else {
                store.locate(id)
            };
            let model = model.map_err(|e| e.to_string())?;
            ModelSession::open(&model, options).map_err(|e| e.to_string())
        };
        match image {
            Some(path) => {
                let style = crate::capture::photo::read_photo_logged(std::path::Path::new(path))
                    .map_err(|e| format!("style image: {e}"))?;
                let mut predict = open(STYLE_PREDICT_MODEL)?;
                let style_vector = predict.run_image(&style).map_err(|e| e.to_string())?;
                Ok(StyleEngine::Arbitrary { session: open(STYLE_TRANSFORM_MODEL)?, style_vector })
            }
            None => Ok(StyleEngine::Multi {
                session: open(STYLE_MODEL)?,
                weights: style_weights(styles),
            }),
        }
    }

    pub(crate) fn session(&self) -> &ModelSession {
        match self {
            StyleEngine::Multi { session, .. } | StyleEngine::Arbitrary { session, .. } => session,
        }
    }

    pub(crate) fn stylize(&mut self, frame: &RgbImage) -> Result<RgbaImage, InferenceError> {
        let (session, extra, nhwc) = match self {
            StyleEngine::Multi { session, weights } => (session, weights.clone(), false),
            StyleEngine::Arbitrary { session, style_vector } => {
                (session, style_vector.clone(), true)
            }
        };
        let contract = session.contract()?.clone();
        let height = (frame.height() * STYLE_WIDTH / frame.width().max(1)).max(4);
        let (w, h) = preprocess::input_size(&contract.input, STYLE_WIDTH, height);
        let input = preprocess::to_tensor(&crate::resize::rgb(frame, w, h), &contract.input);
        let output = session
            .run_tensor(input.into_dyn(), vec![(contract.extra_inputs[0].clone(), extra)])?;
        Ok(if nhwc { nhwc_to_rgba(&output) } else { nchw_to_rgba(&output) })
    }
}

/// `[1, h, w, 3]` 0..1 to RGBA8.
fn nhwc_to_rgba(tensor: &ArrayD<f32>) -> RgbaImage {
    let (height, width) = (tensor.shape()[1], tensor.shape()[2]);
    let to_byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut pixels = Vec::with_capacity(width * height * 4);
    for rgb in tensor.iter().copied().collect::<Vec<f32>>().chunks_exact(3) {
        pixels.extend([to_byte(rgb[0]), to_byte(rgb[1]), to_byte(rgb[2]), 255]);
    }
    RgbaImage::from_raw(width as u32, height as u32, pixels).expect("sizes match")
}

/// `[1, 3, h, w]` 0..1 to RGBA8.
fn nchw_to_rgba(tensor: &ArrayD<f32>) -> RgbaImage {
    let (height, width) = (tensor.shape()[2], tensor.shape()[3]);
    let plane = width * height;
    let data =
        tensor.as_slice().map(<[f32]>::to_vec).unwrap_or_else(|| tensor.iter().copied().collect());
    let to_byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let pixels = (0..plane)
        .flat_map(|i| {
            [to_byte(data[i]), to_byte(data[plane + i]), to_byte(data[2 * plane + i]), 255]
        })
        .collect();
    RgbaImage::from_raw(width as u32, height as u32, pixels).expect("sizes match")
}
