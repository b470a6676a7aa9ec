//! The compositor: camera frame + analysis maps (+ stylized frame) -> the edited picture, all on
//! the GPU. Pipelines and textures are built once; each frame uploads plain data, runs the
//! analysis upsampling pass and one or more passes per layer, ping-ponging between two textures.

mod colour;
mod guide;
mod guided;
mod motion;
mod plan;

use glam::Mat3;

use colour::{half_size, linear_luminance, region_mean_colour};
use guide::{Guide, GuideShader};
use guided::GuidedFilter;
use motion::MotionGuides;
use plan::{AnalysisUniform, Pass, Slot};

use super::{
    bindings::{
        D2, FLOAT, FLOAT_UNFILTERED, Target, Upload, check_len, draw_fullscreen,
        fullscreen_pipeline, sampler_entry, target, texture_entry, uniform_entry, view_entry,
    },
    carry::{self, Carried, Carrier, KeyframeTarget},
    context::{RenderContext, RenderError},
    shaders,
    staging::StagedFrame,
};
use crate::{
    effects::{Layer, RegionSelector, lut::Lut},
    person_extent,
    region_colour::{COLOUR_OUTLIER, ColourTrack},
    scene::{ClassMap, MapMotions, ScalarMap, Stylized},
};

/// Region sets one frame can use (the four channels of the region-mask texture).
const MAX_REGION_SETS: usize = 4;
const COMPOSITE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// The one colour target of a pass writing a composite-format texture.
fn composite_target() -> [Option<wgpu::ColorTargetState>; 1] {
    [Some(wgpu::ColorTargetState {
        format: COMPOSITE_FORMAT,
        blend: None,
        write_mask: wgpu::ColorWrites::ALL,
    })]
}
const ANALYSIS_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;

/// One analysis-pass variant: which maps it upsamples (regions, person, depth), whether it blends
/// with the previous frame, and which region sets it keeps to their colour (one bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AnalysisVariant {
    maps: [bool; 3],
    temporal: bool,
    painted_sets: u32,
}

/// Everything one frame is composited from. Maps may have any resolution; they are upsampled to
/// the frame on the GPU.
#[derive(Debug, Clone, Copy)]
pub struct CompositorInput<'a> {
    /// The camera frame at the compositor's size (cameras' YUV is converted where the frame is
    /// captured: the models need RGB too).
    pub pixels: FramePixels<'a>,
    /// Class ids from the segmentation model.
    pub classes: Option<&'a ClassMap>,
    /// Person probability.
    pub person: Option<&'a ScalarMap>,
    /// Normalised inverse depth.
    pub depth: Option<&'a ScalarMap>,
    /// How the maps' frames moved to this one (maps made on this frame need none).
    pub motions: Option<&'a MapMotions>,
    /// The stylized keyframes for `style` and `restyle` layers.
    pub stylized: Option<&'a Stylized>,
}

/// How the camera frame reaches the compositor.
#[derive(Debug, Clone, Copy)]
pub enum FramePixels<'a> {
    /// RGBA bytes, 4 per pixel, uploaded here.
    Rgba(&'a [u8]),
    /// Already in a staging buffer (written by the capture thread); `rgb` is the same frame,
    /// read on the CPU for the regions' reference colours.
    Staged {
        /// The staged RGBA copy.
        staged: &'a StagedFrame,
        /// The frame as captured.
        rgb: &'a image::RgbImage,
    },
    /// A picture the browser holds (the camera's video element), which the browser copies into
    /// the frame on the GPU: no full frame crosses the CPU. `reference` is a small CPU copy of
    /// the same picture for the regions' reference colours.
    #[cfg(target_family = "wasm")]
    External {
        /// The browser's picture, at the compositor's size.
        source: &'a wgpu::CopyExternalImageSourceInfo,
        /// A small copy of it.
        reference: ReferencePixels<'a>,
    },
}

/// The pixels the regions' reference colours are measured on: the frame itself, or a smaller
/// copy of it (a region's mean colour barely moves with fewer samples).
#[derive(Debug, Clone, Copy)]
pub struct ReferencePixels<'a> {
    /// `channels` bytes per pixel, row by row.
    pub bytes: &'a [u8],
    /// 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// The picture's size.
    pub size: (u32, u32),
}

/// The person mask's range over which people are taken out of the regions behind them (none
/// below, all above): only a confident mask, as the person model fires weakly on upholstery
/// (weaker responses joined to a person are raised to the top, `person_extent`).
pub const SPARED_PERSON: (f32, f32) = (0.5, person_extent::SURE);

/// The share of a pixel's motion the temporal filter still counts one frame (1/30 s) later: the
/// maps lag the picture by a few frames, and their correction must come in fast too.
const MOTION_MEMORY: f32 = 0.7;

/// Filter settings of the analysis upsampling pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisFilter {
    /// Spatial sigma in low-resolution pixels.
    pub sigma_spatial: f32,
    /// Range sigma in 0..1 colour units for class maps (votes need a wider range to fill
    /// texture).
    pub sigma_range_classes: f32,
    /// Range sigma in 0..1 colour units for soft maps (person, depth).
    pub sigma_range_maps: f32,
    /// Blend video frames with the previous result (off for single images).
    pub temporal: bool,
    /// Weight of the new analysis on a still picture at 30 frames a second (1 = no smoothing);
    /// frames further apart weigh more (`MapMotions::since_last_s`).
    pub temporal_base: f32,
    /// Membership (0..1: the region's share of the model's probability, refined by the
    /// picture) a pixel needs to belong to a region. Above one half, so pixels the model splits
    /// between two regions (a sofa's edge against the wall) stay out of both: on the demo room
    /// `bench regions --region-threshold` measured 2.6% of the furniture under a wall repaint at
    /// 0.55 against 4.0% at 0.5, for wall IoU 0.948 against 0.950.
    pub region_threshold: f32,
}

/// What region membership was last made from: the same class ids, or the very same
/// probabilities (the live window hands one map until the model gives a new one).
enum MembershipSource {
    Ids { width: u32, height: u32, ids: Vec<u8> },
    Probabilities(std::sync::Arc<crate::scene::ClassScores>),
}

impl MembershipSource {
    fn of(classes: &ClassMap) -> Self {
        match &classes.probabilities {
            Some(p) => Self::Probabilities(p.clone()),
            None => Self::Ids {
                width: classes.width,
                height: classes.height,
                ids: classes.classes.clone(),
            },
        }
    }

    fn is(&self, classes: &ClassMap) -> bool {
        match (self, &classes.probabilities) {
            (Self::Probabilities(p), Some(q)) => std::sync::Arc::ptr_eq(p, q),
            (Self::Ids { width, height, ids }, None) => {
                (*width, *height) == (classes.width, classes.height)
                    && ids[..] == classes.classes[..]
            }
            _ => false,
        }
    }
}

impl Default for AnalysisFilter {
    fn default() -> Self {
        Self {
            sigma_spatial: 1.0,
            sigma_range_classes: 0.1,
            sigma_range_maps: 0.06,
            temporal: false,
            temporal_base: 0.12,
            region_threshold: 0.55,
        }
    }
}

/// Class ids per region set, for the labels they were resolved against.
struct ResolvedRegions {
    labels: std::sync::Arc<[String]>,
    class_ids: Vec<Vec<u8>>,
}

/// The GPU effect stack for one frame size.
pub struct Compositor {
    size: (u32, u32),
    effect_layout: wgpu::BindGroupLayout,
    effect_pipelines: Vec<wgpu::RenderPipeline>,
    analysis_layout: wgpu::BindGroupLayout,
    /// Analysis pipelines by variant, built on first use.
    analysis_pipelines: std::collections::HashMap<AnalysisVariant, wgpu::RenderPipeline>,
    analysis_uniform: wgpu::Buffer,
    guide_shader: GuideShader,
    /// Guides for the region refinement's grid, the person mask and the depth map.
    guides: [Guide; 3],
    /// Region membership refined by the picture.
    guided: GuidedFilter,
    /// Motion for the temporal filter.
    motion: MotionGuides,
    sampler: wgpu::Sampler,
    frame: Target,
    masks: [Target; 2],
    person_depth: [Target; 2],
    pictures: [Target; 2],
    blur: [Target; 2],
    regions_upload: Upload,
    /// Scratch for region membership, reused across frames.
    membership: Vec<u8>,
    /// The class map `membership` was made from.
    membership_of: Option<MembershipSource>,
    /// The colour of each region set painted one colour, followed through the frames.
    region_colours: [ColourTrack; MAX_REGION_SETS],
    person_upload: Upload,
    depth_upload: Upload,
    /// Carries maps and keyframes from older frames onto the frame shown.
    carrier: Carrier,
    /// How the picture moved since the last frame, for the temporal filter's history.
    history_flow: Upload,
    carried_regions: Carried,
    carried_person: Carried,
    carried_depth: Carried,
    keyframes: KeyframeTarget,
    luts: Vec<Target>,
    lut_sizes: Vec<u32>,
    dummy_lut: Target,
    passes: Vec<Pass>,
    region_sets: Vec<RegionSelector>,
    resolved: Option<ResolvedRegions>,
    filter: AnalysisFilter,
    /// Index into `masks`/`person_depth` holding the newest result.
    current_history: usize,
    history_valid: bool,
    frame_index: u64,
    /// Which of `pictures` holds the last output.
    output: usize,
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compositor")
            .field("size", &self.size)
            .field("passes", &self.passes.len())
            .finish_non_exhaustive()
    }
}

/// The new frame's weight in the temporal filter for frames `since_last_s` apart, given its
/// weight `at_30_fps` for frames 1/30 s apart: the history fades by the same amount per second
/// whatever the frame rate.
fn temporal_weight(at_30_fps: f32, since_last_s: Option<f32>) -> f32 {
    let frames = since_last_s.map_or(1.0, |s| (s * 30.0).clamp(0.0, 300.0));
    1.0 - (1.0 - at_30_fps.clamp(0.0, 1.0)).powf(frames)
}

/// Two targets alike, written in turn (`NAME a`, `NAME b`).
fn target_pair(
    device: &wgpu::Device,
    name: &str,
    size: (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> [Target; 2] {
    ["a", "b"].map(|half| target(device, &format!("{name} {half}"), size, format, usage))
}

/// The effect passes' bind-group layout and one pipeline per effect shader.
fn effect_pipelines(device: &wgpu::Device) -> (wgpu::BindGroupLayout, Vec<wgpu::RenderPipeline>) {
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("effect"),
        entries: &[
            uniform_entry(0),
            sampler_entry(1),
            texture_entry(2, FLOAT, D2),
            texture_entry(3, FLOAT, D2),
            texture_entry(4, FLOAT, D2),
            texture_entry(5, FLOAT, D2),
            texture_entry(6, FLOAT, D2),
            texture_entry(7, FLOAT, wgpu::TextureViewDimension::D3),
        ],
    });
    let pipelines = shaders::EFFECTS
        .iter()
        .map(|(name, body)| {
            let source = shaders::effect_source(body);
            fullscreen_pipeline(device, name, &layout, &source, "fs_main", &composite_target(), &[])
        })
        .collect();
    (layout, pipelines)
}

/// The analysis pass's bind-group layout (`analysis.wgsl`'s bindings).
fn analysis_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let mut entries = vec![uniform_entry(0), texture_entry(1, FLOAT, D2), sampler_entry(2)];
    // The region, person and depth maps, read texel by texel.
    entries.extend((3..6).map(|binding| texture_entry(binding, FLOAT_UNFILTERED, D2)));
    // History, motion, guides and the guided filter's coefficients.
    entries.extend((6..16).map(|binding| texture_entry(binding, FLOAT, D2)));
    // The motion the history is read by (a grid of vectors).
    entries.push(texture_entry(16, FLOAT_UNFILTERED, D2));
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("analysis"),
        entries: &entries,
    })
}

impl Compositor {
    /// Builds the pipelines and textures for `layers` at `width` x `height`. `luts` holds one
    /// table per `lut` layer, in layer order.
    pub fn new(
        context: &RenderContext,
        width: u32,
        height: u32,
        layers: &[Layer],
        luts: &[Lut],
    ) -> Result<Self, RenderError> {
        if width == 0 || height == 0 {
            return Err(RenderError::Setup(format!("frame size {width}x{height} is empty")));
        }
        context.check_size(width, height)?;
        let device = &context.device;
        let (effect_layout, effect_pipelines) = effect_pipelines(device);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("linear clamp"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let size = (width, height);
        let attachment = wgpu::TextureUsages::RENDER_ATTACHMENT;
        // Analysis results can be read back (tests, snapshots of masks).
        let analysis_usage = attachment | wgpu::TextureUsages::COPY_SRC;
        let copyable = attachment | wgpu::TextureUsages::COPY_SRC | wgpu::TextureUsages::COPY_DST;
        let analysis_uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("analysis uniform"),
            size: std::mem::size_of::<AnalysisUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let frame = target(
            device,
            "frame",
            size,
            COMPOSITE_FORMAT,
            copyable | wgpu::TextureUsages::COPY_DST,
        );
        let guide_shader = GuideShader::new(device);
        let guide = || Guide::new(device, &guide_shader, &frame.view, &sampler);
        let guides = [guide(), guide(), guide()];
        let motion = MotionGuides::new(device, &frame.view, &sampler, size);
        let mut compositor = Self {
            size,
            effect_layout,
            effect_pipelines,
            analysis_layout: analysis_layout(device),
            analysis_pipelines: std::collections::HashMap::new(),
            analysis_uniform,
            guide_shader,
            guides,
            guided: GuidedFilter::new(device, size),
            motion,
            sampler,
            frame,
            masks: target_pair(device, "masks", size, ANALYSIS_FORMAT, analysis_usage),
            person_depth: target_pair(
                device,
                "person depth",
                size,
                ANALYSIS_FORMAT,
                analysis_usage,
            ),
            pictures: target_pair(device, "picture", size, COMPOSITE_FORMAT, copyable),
            blur: target_pair(device, "blur", half_size(size), COMPOSITE_FORMAT, attachment),
            regions_upload: Upload::new(device, "regions", wgpu::TextureFormat::Rgba8Unorm, 4),
            person_upload: Upload::new(device, "person", wgpu::TextureFormat::R32Float, 4),
            depth_upload: Upload::new(device, "depth", wgpu::TextureFormat::R32Float, 4),
            carrier: Carrier::new(device, wgpu::TextureFormat::Rgba8Unorm),
            history_flow: Upload::new(device, "history flow", carry::FLOW_FORMAT, 8),
            carried_regions: Carried::new(
                device,
                "carried regions",
                wgpu::TextureFormat::Rgba8Unorm,
            ),
            carried_person: Carried::new(device, "carried person", wgpu::TextureFormat::R32Float),
            carried_depth: Carried::new(device, "carried depth", wgpu::TextureFormat::R32Float),
            keyframes: KeyframeTarget::new(device),
            membership: Vec::new(),
            region_colours: [ColourTrack::default(); MAX_REGION_SETS],
            membership_of: None,
            luts: Vec::new(),
            lut_sizes: Vec::new(),
            dummy_lut: Self::lut_texture(context, &Lut::identity(2)),
            passes: Vec::new(),
            region_sets: Vec::new(),
            resolved: None,
            filter: AnalysisFilter::default(),
            current_history: 0,
            history_valid: false,
            frame_index: 0,
            output: 0,
        };
        compositor.set_layers(context, layers, luts)?;
        Ok(compositor)
    }

    /// Sets the upsampling filter; turning temporal smoothing on or off restarts the history.
    pub fn set_filter(&mut self, filter: AnalysisFilter) {
        if filter.temporal != self.filter.temporal {
            self.history_valid = false;
        }
        self.filter = filter;
    }

    /// Forgets the previous frame (a cut in the video, a new photo).
    pub fn reset_history(&mut self) {
        self.history_valid = false;
    }

    /// Output size.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Class ids per region set for these labels.
    fn resolve_regions(
        &mut self,
        labels: &std::sync::Arc<[String]>,
    ) -> Result<&[Vec<u8>], RenderError> {
        let stale = match &self.resolved {
            Some(resolved) => {
                !std::sync::Arc::ptr_eq(&resolved.labels, labels) && *resolved.labels != **labels
            }
            None => true,
        };
        if stale {
            let sets = self
                .region_sets
                .iter()
                .map(|set| set.class_ids(labels))
                .collect::<Result<Vec<_>, _>>()?;
            self.resolved = Some(ResolvedRegions { labels: labels.clone(), class_ids: sets });
            self.membership_of = None;
        }
        Ok(&self.resolved.as_ref().expect("resolved above").class_ids)
    }

    /// Uploads one frame's inputs and submits every pass; read the result with `readback`.
    pub fn render(
        &mut self,
        context: &RenderContext,
        input: &CompositorInput<'_>,
    ) -> Result<(), RenderError> {
        let mut encoder = context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("composite") });
        let reference_pixels = self.upload_frame(context, &mut encoder, input.pixels)?;
        let references = self.upload_analysis(context, input, reference_pixels)?;
        let moved = self.carry_maps(context, &mut encoder, input);
        let masks = self.analysis_pass(context, &mut encoder, input, moved);
        self.layer_passes(context, &mut encoder, &references, masks);
        context.queue.submit([encoder.finish()]);
        context.check_errors()
    }

    /// Puts the frame in its texture; returns the pixels on the CPU which the regions'
    /// reference colours are measured on.
    fn upload_frame<'a>(
        &mut self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        pixels: FramePixels<'a>,
    ) -> Result<ReferencePixels<'a>, RenderError> {
        let (width, height) = self.size;
        let count = (width * height) as usize;
        let whole = |bytes, channels| ReferencePixels { bytes, channels, size: (width, height) };
        Ok(match pixels {
            FramePixels::Staged { staged, rgb } => {
                if staged.size() != (width, height) || rgb.dimensions() != (width, height) {
                    return Err(RenderError::Setup(format!(
                        "the staged frame is {:?} and its RGB copy {:?}, expected {width}x{height}",
                        staged.size(),
                        rgb.dimensions()
                    )));
                }
                staged.copy_to(encoder, &self.frame.texture);
                whole(rgb.as_raw().as_slice(), 3)
            }
            FramePixels::Rgba(rgba) => {
                check_len("RGBA frame", rgba.len(), count * 4)?;
                context.queue.write_texture(
                    self.frame.texture.as_image_copy(),
                    rgba,
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(width * 4),
                        rows_per_image: Some(height),
                    },
                    self.frame.texture.size(),
                );
                whole(rgba, 4)
            }
            #[cfg(target_family = "wasm")]
            FramePixels::External { source, reference } => {
                let source_size = (source.source.width(), source.source.height());
                if source_size != (width, height) {
                    return Err(RenderError::Setup(format!(
                        "the browser's picture is {source_size:?}, expected {width}x{height}"
                    )));
                }
                let (w, h) = reference.size;
                check_len(
                    "reference pixels",
                    reference.bytes.len(),
                    (w * h) as usize * reference.channels,
                )?;
                context.queue.copy_external_image_to_texture(
                    source,
                    wgpu::CopyExternalImageDestInfo {
                        texture: &self.frame.texture,
                        mip_level: 0,
                        origin: wgpu::Origin3d::ZERO,
                        aspect: wgpu::TextureAspect::All,
                        color_space: wgpu::PredefinedColorSpace::Srgb,
                        premultiplied_alpha: false,
                    },
                    self.frame.texture.size(),
                );
                reference
            }
        })
    }

    /// Uploads the region membership, person mask and depth; returns each region set's mean
    /// colour on the frame.
    fn upload_analysis(
        &mut self,
        context: &RenderContext,
        input: &CompositorInput<'_>,
        reference_pixels: ReferencePixels<'_>,
    ) -> Result<[[f32; 3]; MAX_REGION_SETS], RenderError> {
        let mut references = [[0.5f32; 3]; MAX_REGION_SETS];
        if let Some(classes) = input.classes {
            let sets = self.resolve_regions(&classes.labels)?.to_vec();
            for (k, ids) in sets.iter().enumerate() {
                references[k] = region_mean_colour(classes, ids, reference_pixels);
            }
            // The live window hands the same map every frame until the model gives a new one.
            if !self.membership_of.as_ref().is_some_and(|source| source.is(classes)) {
                // Each set's membership as one byte of an RGBA texel.
                let (grid_w, grid_h) = classes.region_grid();
                let values = classes.set_membership(&sets);
                self.membership.clear();
                self.membership.resize((grid_w * grid_h * 4) as usize, 0);
                if !sets.is_empty() {
                    for (texel, cell) in
                        self.membership.chunks_exact_mut(4).zip(values.chunks_exact(sets.len()))
                    {
                        for (byte, v) in texel.iter_mut().zip(cell) {
                            *byte = (v * 255.0).round() as u8;
                        }
                    }
                }
                self.regions_upload.write(context, (grid_w, grid_h), &self.membership);
                self.membership_of = Some(MembershipSource::of(classes));
            }
            let since_last_s = input.motions.and_then(|m| m.since_last_s).unwrap_or(1.0 / 30.0);
            self.follow_painted_colours(classes.region_grid(), reference_pixels, since_last_s);
        }
        if let Some(person) = input.person {
            let person = person_extent::joined(person);
            self.person_upload.write(
                context,
                (person.width, person.height),
                bytemuck::cast_slice(&person.values),
            );
        }
        if let Some(depth) = input.depth {
            self.depth_upload.write(
                context,
                (depth.width, depth.height),
                bytemuck::cast_slice(&depth.values),
            );
        }
        Ok(references)
    }

    /// Finds the colour of each region set painted one colour, from its membership on the
    /// model's `grid` (as uploaded) and the frame's pixels; in a video, following its colour on
    /// the frames before, `since_last_s` ago.
    fn follow_painted_colours(
        &mut self,
        grid: (u32, u32),
        pixels: ReferencePixels<'_>,
        since_last_s: f32,
    ) {
        let video = self.filter.temporal && self.history_valid;
        for (k, track) in self.region_colours.iter_mut().enumerate() {
            let painted = self.region_sets.get(k).is_some_and(RegionSelector::painted_one_colour);
            if !video || !painted {
                *track = ColourTrack::default();
            }
            if painted {
                let plane: Vec<f32> = self
                    .membership
                    .iter()
                    .skip(k)
                    .step_by(4)
                    .map(|&m| f32::from(m) / 255.0)
                    .collect();
                let (bytes, channels, size) = (pixels.bytes, pixels.channels, pixels.size);
                track.follow(&plane, grid, bytes, channels, size, since_last_s);
            }
        }
    }

    /// Moves maps and keyframes made on older frames to where the scene is now; says which of
    /// the maps (regions, person, depth) were moved.
    fn carry_maps(
        &mut self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        input: &CompositorInput<'_>,
    ) -> [bool; 3] {
        let motions = input.motions.cloned().unwrap_or_default();
        let carried = [
            (input.classes.map(ClassMap::region_grid), &motions.classes, carry::Kind::Regions),
            (input.person.map(|m| (m.width, m.height)), &motions.person, carry::Kind::Scalars),
            (input.depth.map(|m| (m.width, m.height)), &motions.depth, carry::Kind::Scalars),
        ];
        let mut moved = [false; 3];
        for (index, (map_size, motion, kind)) in carried.into_iter().enumerate() {
            let (Some(map_size), Some(motion)) = (map_size, motion) else { continue };
            let (source, out) = match index {
                0 => (&self.regions_upload, &mut self.carried_regions),
                1 => (&self.person_upload, &mut self.carried_person),
                _ => (&self.depth_upload, &mut self.carried_depth),
            };
            self.carrier.carry(
                context,
                encoder,
                kind,
                (&source.target.view, map_size),
                motion,
                out,
            );
            moved[index] = true;
        }
        if let Some(stylized) = input.stylized {
            self.carrier.keyframes(context, encoder, stylized, &mut self.keyframes);
        }
        moved
    }

    /// The guides, the motion and the analysis pass into the other history slot; returns that
    /// slot, where this frame's masks now are.
    fn analysis_pass(
        &mut self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        input: &CompositorInput<'_>,
        moved: [bool; 3],
    ) -> usize {
        let (width, height) = self.size;
        let map_sizes = [
            input.classes.map(|_| GuidedFilter::grid(self.size)),
            input.person.map(|m| (m.width, m.height)),
            input.depth.map(|m| (m.width, m.height)),
        ];
        for (guide, map_size) in self.guides.iter_mut().zip(map_sizes) {
            if let Some(map_size) = map_size {
                guide.render(context, encoder, &self.guide_shader, map_size);
            }
        }
        let variant = AnalysisVariant {
            maps: [input.classes.is_some(), input.person.is_some(), input.depth.is_some()],
            temporal: self.filter.temporal && self.history_valid,
            painted_sets: self.painted_sets(),
        };
        self.ensure_analysis_pipeline(&context.device, variant);
        let regions =
            if moved[0] { self.carried_regions.view() } else { &self.regions_upload.target.view };
        if input.classes.is_some() {
            let grid_colour = &self.guides[0].target.view;
            self.guided.render(context, encoder, grid_colour, regions, &self.sampler);
        }
        if self.filter.temporal {
            self.motion.render(context, encoder);
        }
        let still = Carrier::still_motion();
        let history = input.motions.and_then(|m| m.history.as_ref()).unwrap_or(&still);
        carry::write_motion(context, &mut self.history_flow, history);
        let since_last_s = input.motions.and_then(|m| m.since_last_s);
        let temporal_base = temporal_weight(self.filter.temporal_base, since_last_s);
        // Person masks and depth maps moved here were made on an older frame: no fast path for
        // them (analysis.wgsl).
        let fresh = f32::from(u8::from(!moved[1] && !moved[2]));
        let memory = 1.0 - temporal_weight(1.0 - MOTION_MEMORY, since_last_s);
        let uniform = AnalysisUniform {
            size: [width as f32, height as f32, 1.0 / width as f32, 1.0 / height as f32],
            params: [self.filter.sigma_spatial, SPARED_PERSON.0, temporal_base, SPARED_PERSON.1],
            range: [
                self.filter.sigma_range_classes,
                self.filter.sigma_range_maps,
                self.filter.region_threshold,
                0.0,
            ],
            spare: std::array::from_fn(|k| {
                let set = self.region_sets.get(k);
                f32::from(u8::from(set.is_some_and(RegionSelector::spares_people)))
            }),
            colour_mean: self
                .region_colours
                .map(|t| t.colour().map_or([0.0; 4], |c| c.mean.extend(0.0).into())),
            colour_inverse: std::array::from_fn(|i| {
                let colour = self.region_colours[i / 3].colour();
                let inverse = colour.map_or(Mat3::ZERO, |c| c.inverse);
                inverse.col(i % 3).extend(0.0).into()
            }),
            colour_outlier: [COLOUR_OUTLIER.0, COLOUR_OUTLIER.1, 0.0, 0.0],
            temporal: [fresh, memory, 0.0, 0.0],
        };
        context.queue.write_buffer(&self.analysis_uniform, 0, bytemuck::bytes_of(&uniform));

        // Analysis upsampling into the other history slot.
        let previous = self.current_history;
        let next = 1 - previous;
        let analysis_group = self.analysis_group(context, regions, moved, previous);
        draw_fullscreen(
            encoder,
            context,
            "analysis",
            &[&self.masks[next].view, &self.person_depth[next].view],
            &self.analysis_pipelines[&variant],
            &analysis_group,
        );
        self.current_history = next;
        self.history_valid = true;

        next
    }

    /// The analysis pass's bindings: this frame's maps (`regions`, and the carried person and
    /// depth maps where `moved`), the history in slot `previous`, the motion and the guides.
    fn analysis_group(
        &self,
        context: &RenderContext,
        regions: &wgpu::TextureView,
        moved: [bool; 3],
        previous: usize,
    ) -> wgpu::BindGroup {
        let guided = self.guided.views();
        context.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("analysis"),
            layout: &self.analysis_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.analysis_uniform.as_entire_binding(),
                },
                view_entry(1, &self.frame.view),
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                view_entry(3, regions),
                view_entry(
                    4,
                    if moved[1] {
                        self.carried_person.view()
                    } else {
                        &self.person_upload.target.view
                    },
                ),
                view_entry(
                    5,
                    if moved[2] {
                        self.carried_depth.view()
                    } else {
                        &self.depth_upload.target.view
                    },
                ),
                view_entry(6, &self.masks[previous].view),
                view_entry(7, &self.person_depth[previous].view),
                view_entry(8, self.motion.near_view()),
                view_entry(9, &self.guides[0].target.view),
                view_entry(10, &self.guides[1].target.view),
                view_entry(11, &self.guides[2].target.view),
                view_entry(12, guided[0]),
                view_entry(13, guided[1]),
                view_entry(14, guided[2]),
                view_entry(15, guided[3]),
                view_entry(16, &self.history_flow.target.view),
            ],
        })
    }

    /// Each layer's passes over the frame, with this frame's masks in history slot `masks`.
    fn layer_passes(
        &mut self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        references: &[[f32; 3]; MAX_REGION_SETS],
        masks: usize,
    ) {
        let next = masks;
        // Layers: the picture starts as the frame itself (no copy); the first pass that draws
        // the picture writes `pictures[0]`, the next ones ping-pong.
        let mut picture: Option<usize> = None;
        for pass in &self.passes {
            let mut uniform = pass.base;
            if let Some(slot) = pass.region_slot {
                let r = references[slot];
                uniform.reference = [linear_luminance(r), 0.0, 0.0, self.frame_index as f32];
            } else {
                uniform.reference = [linear_luminance([0.5; 3]), 0.0, 0.0, self.frame_index as f32];
            }
            context.queue.write_buffer(&pass.uniform, 0, bytemuck::bytes_of(&uniform));
            let view_of = |slot: Slot| match slot {
                Slot::Picture => picture.map_or(&self.frame.view, |p| &self.pictures[p].view),
                Slot::BlurA => &self.blur[0].view,
                Slot::BlurB => &self.blur[1].view,
                Slot::Stylized => self.keyframes.view(),
                Slot::Nothing => &self.frame.view,
            };
            let drawn = picture.map_or(0, |p| 1 - p);
            let output_view = match pass.output {
                Slot::Picture => &self.pictures[drawn].view,
                other => view_of(other),
            };
            let lut_view = pass.lut.map_or(&self.dummy_lut.view, |i| &self.luts[i].view);
            let group = context.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("effect"),
                layout: &self.effect_layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: pass.uniform.as_entire_binding() },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::Sampler(&self.sampler),
                    },
                    view_entry(2, view_of(pass.input)),
                    view_entry(3, &self.frame.view),
                    view_entry(4, &self.masks[next].view),
                    view_entry(5, &self.person_depth[next].view),
                    view_entry(6, view_of(pass.aux)),
                    view_entry(7, lut_view),
                ],
            });
            draw_fullscreen(
                encoder,
                context,
                "effect",
                &[output_view],
                &self.effect_pipelines[pass.shader.index()],
                &group,
            );
            if pass.output == Slot::Picture {
                picture = Some(drawn);
            }
        }
        if picture.is_none() {
            encoder.copy_texture_to_texture(
                self.frame.texture.as_image_copy(),
                self.pictures[0].texture.as_image_copy(),
                self.frame.texture.size(),
            );
        }
        self.output = picture.unwrap_or(0);
        self.frame_index += 1;
    }

    /// Builds, ahead of the frames, every analysis-pass variant frames with some of `maps`
    /// (regions, person, depth) can need, with and without temporal smoothing, so no frame
    /// waits for a shader compile (on a software adapter each takes tens of milliseconds).
    pub fn prepare_analysis(&mut self, device: &wgpu::Device, maps: [bool; 3]) {
        for subset in 0..8u8 {
            let present = [0, 1, 2].map(|i| subset & (1 << i) != 0);
            if present.iter().zip(maps).any(|(p, available)| *p && !available) {
                continue;
            }
            for temporal in [false, true] {
                let painted_sets = self.painted_sets();
                let variant = AnalysisVariant { maps: present, temporal, painted_sets };
                self.ensure_analysis_pipeline(device, variant);
            }
        }
    }

    /// One bit per region set painted one colour (`RegionSelector::painted_one_colour`).
    fn painted_sets(&self) -> u32 {
        let painted = self.region_sets.iter().map(RegionSelector::painted_one_colour);
        painted.enumerate().fold(0, |bits, (k, on)| bits | (u32::from(on) << k))
    }

    /// The analysis pipeline for `variant`, built on first use as pipeline constants, so absent
    /// inputs and colour models compile out.
    fn ensure_analysis_pipeline(&mut self, device: &wgpu::Device, variant: AnalysisVariant) {
        if self.analysis_pipelines.contains_key(&variant) {
            return;
        }
        let flag = |on: bool| f64::from(u8::from(on));
        let [regions, person, depth] = variant.maps;
        let constants = [
            ("HAS_REGIONS", flag(regions)),
            ("HAS_PERSON", flag(person)),
            ("HAS_DEPTH", flag(depth)),
            ("TEMPORAL", flag(variant.temporal)),
            ("PAINTED_SETS", f64::from(variant.painted_sets)),
        ];
        let target = Some(wgpu::ColorTargetState {
            format: ANALYSIS_FORMAT,
            blend: None,
            write_mask: wgpu::ColorWrites::ALL,
        });
        let pipeline = fullscreen_pipeline(
            device,
            "analysis",
            &self.analysis_layout,
            &shaders::standalone("analysis"),
            "fs_main",
            &[target.clone(), target],
            &constants,
        );
        self.analysis_pipelines.insert(variant, pipeline);
    }

    /// The texture holding the last composited picture (for a window or the recorder).
    pub fn output_texture(&self) -> &wgpu::Texture {
        &self.pictures[self.output].texture
    }

    /// Upsampled analysis of the last frame: (region masks, person/depth), RGBA16F.
    pub fn analysis_textures(&self) -> (&wgpu::Texture, &wgpu::Texture) {
        (
            &self.masks[self.current_history].texture,
            &self.person_depth[self.current_history].texture,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::temporal_weight;

    #[test]
    fn the_history_fades_by_the_same_amount_per_second_at_any_frame_rate() {
        let base = 0.12;
        assert!(
            (temporal_weight(base, None) - base).abs() < 1e-6,
            "frames 1/30 s apart by default"
        );
        assert!((temporal_weight(base, Some(1.0 / 30.0)) - base).abs() < 1e-6);
        assert_eq!(temporal_weight(base, Some(0.0)), 0.0, "the same frame again changes nothing");
        // Three frames at 30 fps or one at 10 fps leave the same share of the history.
        let kept_at_30 = (1.0 - base).powi(3);
        assert!((1.0 - temporal_weight(base, Some(0.1)) - kept_at_30).abs() < 1e-6);
        assert_eq!(temporal_weight(1.0, Some(0.1)), 1.0, "no smoothing stays none");
    }
}
