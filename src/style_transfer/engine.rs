//! The native style-transfer engine: the network's sessions, opened from the store.

use image::{RgbImage, RgbaImage};
use ndarray::ArrayD;

use super::{
    STYLE_MODEL, STYLE_PREDICT_MODEL, STYLE_TRANSFORM_MODEL, StyleChoice, network_input,
    style_weights,
};
use crate::{
    capture::CaptureError,
    effects::StyleWeight,
    inference::{InferenceError, ModelSession, SessionOptions, decode},
    store::{ModelStore, StoreError},
};

/// Why a style engine cannot open.
#[derive(Debug, thiserror::Error)]
pub enum StyleError {
    /// A style model is missing or fails its check.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A style model cannot be opened or run.
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The style picture cannot be read.
    #[error("style image: {0}")]
    StyleImage(CaptureError),
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
        choice: &StyleChoice,
    ) -> Result<Self, StyleError> {
        let open = |id: &str| -> Result<ModelSession, StyleError> {
            let model = if options.serves_remotely(id) {
                store.locate_or_describe(id)
            } else {
                store.locate(id)
            };
            Ok(ModelSession::open(&model?, options)?)
        };
        match choice {
            StyleChoice::Image(path) => {
                let style = crate::capture::photo::read_photo_logged(std::path::Path::new(path))
                    .map_err(StyleError::StyleImage)?;
                let mut predict = open(STYLE_PREDICT_MODEL)?;
                let style_vector = predict.run_image(&style)?;
                Ok(StyleEngine::Arbitrary { session: open(STYLE_TRANSFORM_MODEL)?, style_vector })
            }
            StyleChoice::Builtin(styles) => Ok(StyleEngine::Multi {
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

    /// Blends other built-in styles from the next frame on (the arbitrary-style pair keeps its
    /// picture's style).
    pub(crate) fn set_styles(&mut self, styles: &[StyleWeight]) {
        if let StyleEngine::Multi { weights, .. } = self {
            *weights = style_weights(styles);
        }
    }

    pub(crate) fn stylize(&mut self, frame: &RgbImage) -> Result<RgbaImage, InferenceError> {
        let (session, extra) = match self {
            StyleEngine::Multi { session, weights } => (session, weights.clone()),
            StyleEngine::Arbitrary { session, style_vector } => (session, style_vector.clone()),
        };
        let contract = session.contract()?.clone();
        let input = network_input(frame, &contract.input);
        let output = session
            .run_tensor(input.into_dyn(), vec![(contract.extra_inputs[0].clone(), extra)])?;
        decode::picture(&output, &contract.output).map_err(|source| InferenceError::Output {
            model: session.model_id().to_owned(),
            cause: source,
        })
    }
}
