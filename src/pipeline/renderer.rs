//! Ordered compositing of a layer plan on the GPU, for one frame size at a time.

use image::{RgbImage, RgbaImage};

use super::{FrameAnalysis, LayerPlan, PipelineError};
use crate::{
    effects::Layer,
    render::{
        AnalysisFilter, Compositor, CompositorInput, FramePixels, RenderContext, readback,
        yuv::I420Converter,
    },
};

/// The GPU half: composites frames with their analysis, in order (temporal smoothing carries
/// state from one frame to the next).
pub struct EffectRenderer {
    plan: LayerPlan,
    compositor: Option<Compositor>,
    filter: AnalysisFilter,
    /// Reads each picture back through one staging buffer.
    reader: readback::Reader,
}

impl std::fmt::Debug for EffectRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectRenderer")
            .field("layers", &self.plan.layers.len())
            .finish_non_exhaustive()
    }
}

impl EffectRenderer {
    /// A renderer for the planned layers; GPU state is made on the first frame.
    pub fn new(plan: LayerPlan) -> Self {
        let reader = readback::Reader::default();
        Self { plan, compositor: None, filter: AnalysisFilter::default(), reader }
    }

    /// The layers being drawn.
    pub fn layers(&self) -> &[Layer] {
        &self.plan.layers
    }

    /// Replaces the layers' parameters or regions (same effects, same order, so the LUTs stay).
    pub fn set_layers(
        &mut self,
        context: &RenderContext,
        layers: Vec<Layer>,
    ) -> Result<(), PipelineError> {
        if let Some(compositor) = &mut self.compositor {
            compositor.set_layers(context, &layers, &self.plan.luts)?;
        }
        self.plan.layers = layers;
        Ok(())
    }

    /// Sets temporal smoothing (on for video, off for unrelated photos).
    pub fn set_temporal(&mut self, temporal: bool) {
        self.filter.temporal = temporal;
        if let Some(compositor) = &mut self.compositor {
            compositor.set_filter(self.filter);
        }
    }

    /// Sets the membership a pixel needs to belong to a region (see
    /// [`AnalysisFilter::region_threshold`]).
    pub fn set_region_threshold(&mut self, threshold: f32) {
        if threshold != self.filter.region_threshold {
            self.filter.region_threshold = threshold;
            if let Some(compositor) = &mut self.compositor {
                compositor.set_filter(self.filter);
            }
        }
    }

    /// Builds the compositor for `size` frames and every pipeline frames with the given
    /// `maps` (regions, person, depth) need, so the first frames do not wait for them; any
    /// thread may call it (the live app's preset loader does).
    pub fn prepare(
        &mut self,
        context: &RenderContext,
        size: (u32, u32),
        maps: [bool; 3],
    ) -> Result<(), PipelineError> {
        let compositor = self.compositor_for(context, size)?;
        compositor.prepare_analysis(&context.device, maps);
        Ok(())
    }

    /// The compositor for `size` frames, made (with its effect pipelines) when there is none or
    /// the size changed.
    fn compositor_for(
        &mut self,
        context: &RenderContext,
        size: (u32, u32),
    ) -> Result<&mut Compositor, PipelineError> {
        if self.compositor.as_ref().is_none_or(|c| c.size() != size) {
            let mut compositor =
                Compositor::new(context, size.0, size.1, &self.plan.layers, &self.plan.luts)?;
            compositor.set_filter(self.filter);
            self.compositor = Some(compositor);
        }
        Ok(self.compositor.as_mut().expect("created above"))
    }

    /// Submits the GPU work for one frame without waiting for it.
    pub fn submit(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
    ) -> Result<&Compositor, PipelineError> {
        let rgba = crate::render::rgba_bytes(frame);
        self.submit_pixels(context, FramePixels::Rgba(&rgba), frame.dimensions(), analysis)
    }

    /// [`EffectRenderer::submit`] for a frame already in RGBA, in memory or staged (the live
    /// window gets it from its capture thread).
    pub fn submit_pixels(
        &mut self,
        context: &RenderContext,
        pixels: FramePixels<'_>,
        size: (u32, u32),
        analysis: &FrameAnalysis,
    ) -> Result<&Compositor, PipelineError> {
        // A person mask that only keeps people off the walls is left out where it finds nobody:
        // the regions are the same without it, and the GPU skips its upsampling.
        let person_shown = self.plan.layers.iter().any(|l| l.effect.needs_person());
        let person = analysis.scene.person.as_ref().filter(|person| {
            person_shown || person.values.iter().any(|&p| p > crate::render::SPARED_PERSON.0)
        });
        let compositor = self.compositor_for(context, size)?;
        compositor.render(
            context,
            &CompositorInput {
                pixels,
                classes: analysis.scene.classes.as_ref(),
                person,
                depth: analysis.scene.depth.as_ref(),
                motions: Some(&analysis.motions),
                stylized: analysis.stylized.as_ref(),
            },
        )?;
        Ok(compositor)
    }

    /// Composites one frame, converts it to I420 at the converter's size on the GPU, and reads
    /// the planes back (for recording).
    pub fn render_i420(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
        converter: &I420Converter,
    ) -> Result<Vec<u8>, PipelineError> {
        let compositor = self.submit(context, frame, analysis)?;
        Ok(converter.convert_and_read(context, compositor.output_texture(), compositor.size())?)
    }

    /// Composites one frame and reads the picture back.
    pub fn render(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
    ) -> Result<RgbaImage, PipelineError> {
        let output = self.submit(context, frame, analysis)?.output_texture().clone();
        Ok(self.reader.read_rgba8(context, &output)?)
    }
}
