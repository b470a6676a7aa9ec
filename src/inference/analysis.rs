//! Scene analysis: segmentation, person mask and depth for one frame, each stage optional.

use image::RgbImage;

use super::{
    decode::{self, DecodeError},
    session::{InferenceError, ModelSession, SegmentationPasses, SessionOptions},
};
use crate::{
    scene::{ClassScores, DisabledStage, SceneAnalysis, Upsampling},
    store::{
        ModelStore,
        manifest::{
            CoarseLogits, DEFAULT_DEPTH_MODEL, DEFAULT_PERSON_MODEL, DEFAULT_SEGMENTATION_MODEL,
            OutputKind,
        },
    },
};

/// Which model runs each stage; `None` turns the stage off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AnalysisModels {
    /// Semantic segmentation model id.
    pub segmentation: Option<String>,
    /// Person segmentation model id.
    pub person: Option<String>,
    /// Depth model id.
    pub depth: Option<String>,
}

impl Default for AnalysisModels {
    fn default() -> Self {
        Self {
            segmentation: Some(DEFAULT_SEGMENTATION_MODEL.into()),
            person: Some(DEFAULT_PERSON_MODEL.into()),
            depth: Some(DEFAULT_DEPTH_MODEL.into()),
        }
    }
}

impl AnalysisModels {
    /// No model at all (each stage then names only its own).
    pub fn none() -> Self {
        Self { segmentation: None, person: None, depth: None }
    }
}

/// Prepared sessions for every enabled stage.
#[derive(Debug)]
pub struct SceneAnalyzer {
    segmentation: Option<ModelSession>,
    person: Option<ModelSession>,
    depth: Option<ModelSession>,
    passes: SegmentationPasses,
}

/// Opens one stage's model; a missing or broken model disables the stage instead of failing.
fn open_stage(
    store: &ModelStore,
    options: &SessionOptions,
    stage: &'static str,
    id: Option<&str>,
    disabled: &mut Vec<DisabledStage>,
) -> Result<Option<ModelSession>, InferenceError> {
    let Some(id) = id else { return Ok(None) };
    let located =
        if options.serves_remotely(id) { store.locate_or_describe(id) } else { store.locate(id) };
    let model = match located {
        Ok(model) => model,
        Err(error) => {
            disabled.push(DisabledStage { stage, reason: error.to_string() });
            return Ok(None);
        }
    };
    match ModelSession::open(&model, options) {
        Ok(session) => Ok(Some(session)),
        // The user sent this model to a server: one that cannot serve it as needed is a setup
        // error to fix, not a stage to skip quietly.
        Err(error) if options.serves_remotely(id) => Err(error),
        // Without ONNX Runtime no stage can run; that is one error, not three notices.
        Err(error @ InferenceError::Runtime(_)) => Err(error),
        Err(error) => {
            disabled.push(DisabledStage { stage, reason: error.to_string() });
            Ok(None)
        }
    }
}

impl SceneAnalyzer {
    /// Opens the configured models. Stages whose model is missing or unusable are returned as
    /// `DisabledStage`s; a missing ONNX Runtime is an error.
    pub fn open(
        store: &ModelStore,
        models: &AnalysisModels,
        options: &SessionOptions,
    ) -> Result<(Self, Vec<DisabledStage>), InferenceError> {
        let mut disabled = Vec::new();
        let segmentation = open_stage(
            store,
            options,
            "segmentation",
            models.segmentation.as_deref(),
            &mut disabled,
        )?;
        let person = open_stage(store, options, "person", models.person.as_deref(), &mut disabled)?;
        let depth = open_stage(store, options, "depth", models.depth.as_deref(), &mut disabled)?;
        let passes = options.segmentation_passes;
        Ok((Self { segmentation, person, depth, passes }, disabled))
    }

    /// The open sessions, for reports (model id and provider).
    pub fn sessions(&self) -> impl Iterator<Item = &ModelSession> {
        [&self.segmentation, &self.person, &self.depth].into_iter().flatten()
    }

    /// The segmentation's class scores for one frame and how they are upsampled (see
    /// [`run_class_scores`]); `None` without a segmentation stage, or when its graph gives class
    /// ids only (reading every class's full-size scores instead would cost more than it saves).
    pub fn class_scores(
        &mut self,
        frame: &RgbImage,
    ) -> Result<Option<(ClassScores, Upsampling)>, InferenceError> {
        let Some(session) = &mut self.segmentation else { return Ok(None) };
        if session.contract()?.output.argmax.is_some() {
            return Ok(None);
        }
        run_class_scores(session, frame, self.passes).map(Some)
    }

    /// Runs every enabled stage on one frame.
    pub fn analyze(&mut self, frame: &RgbImage) -> Result<SceneAnalysis, InferenceError> {
        let mut analysis = SceneAnalysis::default();
        if let Some(session) = &mut self.segmentation {
            analysis.classes = Some(run_segmentation(session, frame, self.passes)?);
        }
        if let Some(session) = &mut self.person {
            analysis.person = Some(run_person(session, frame)?);
        }
        if let Some(session) = &mut self.depth {
            analysis.depth = Some(run_depth(session, frame)?);
        }
        Ok(analysis)
    }
}

fn output_error(session: &ModelSession, source: DecodeError) -> InferenceError {
    InferenceError::Output { model: session.model_id().to_owned(), cause: source }
}

/// Runs a segmentation model and returns per-pixel class ids at the model's resolution, read
/// from the graph's own argmax output when it has one.
pub fn run_segmentation(
    session: &mut ModelSession,
    frame: &RgbImage,
    passes: SegmentationPasses,
) -> Result<crate::scene::ClassMap, InferenceError> {
    let output = session.contract()?.output.clone();
    if let Some(argmax) = &output.argmax {
        let ids = session.run_image_i64(frame, argmax)?;
        return decode::class_ids(&ids, &output).map_err(|e| output_error(session, e));
    }
    let (scores, upsampling) = run_class_scores(session, frame, passes)?;
    Ok(scores.upsampled_argmax(upsampling).with_probabilities(scores.softmax()))
}

/// Runs a segmentation model for its class scores (on the mirror image too, averaged, when
/// `passes` asks), and says how they are to be upsampled for the class map (as the head would,
/// where the graph was cut before it; not at all otherwise).
pub fn run_class_scores(
    session: &mut ModelSession,
    frame: &RgbImage,
    passes: SegmentationPasses,
) -> Result<(ClassScores, Upsampling), InferenceError> {
    let raw = session.run_image(frame)?;
    let mirrored = match passes {
        SegmentationPasses::Mirrored => {
            Some(session.run_image(&image::imageops::flip_horizontal(frame))?)
        }
        SegmentationPasses::Once => None,
    };
    let output = &session.contract()?.output;
    if output.kind != OutputKind::Logits {
        return Err(output_error(session, DecodeError::NotLogits(output.kind)));
    }
    let upsampling =
        output.coarse_logits.as_ref().map_or(Upsampling::NONE, CoarseLogits::upsampling);
    let read = |raw| decode::class_scores(raw, output).map_err(|e| output_error(session, e));
    let mut scores = read(&raw)?;
    if let Some(mirrored) = &mirrored {
        scores.average_mirrored(&read(mirrored)?);
    }
    Ok((scores, upsampling))
}

/// Runs a person-segmentation model and decodes the person probability.
pub fn run_person(
    session: &mut ModelSession,
    frame: &RgbImage,
) -> Result<crate::scene::PersonMask, InferenceError> {
    let raw = session.run_image(frame)?;
    decode::probability(&raw, &session.contract()?.output).map_err(|e| output_error(session, e))
}

/// Runs a depth model and decodes normalised inverse depth.
pub fn run_depth(
    session: &mut ModelSession,
    frame: &RgbImage,
) -> Result<crate::scene::DepthMap, InferenceError> {
    let raw = session.run_image(frame)?;
    decode::inverse_depth(&raw).map_err(|e| output_error(session, e))
}
