//! Pass planning: a layer stack becomes an ordered list of GPU passes (which shader, which
//! inputs and outputs, which region set and LUT), built when the layers change, never per frame.

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt as _;

use super::{
    Compositor, MAX_REGION_SETS,
    colour::{f16_bits, half_size_uniform, srgb_to_linear, srgb4},
};
use crate::render::bindings::Target;
use crate::{
    effects::{Effect, Layer, RegionSelector, lut::Lut},
    render::context::{RenderContext, RenderError},
    scene::Region,
};

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(super) struct LayerUniform {
    pub(super) size: [f32; 4],
    pub(super) colour: [f32; 4],
    pub(super) accent: [f32; 4],
    pub(super) params: [f32; 4],
    pub(super) region: [f32; 4],
    pub(super) reference: [f32; 4],
    pub(super) lut_domain_min: [f32; 4],
    pub(super) lut_domain_max: [f32; 4],
    pub(super) colour_linear: [f32; 4],
    pub(super) accent_linear: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct AnalysisUniform {
    pub(super) size: [f32; 4],
    pub(super) params: [f32; 4],
    pub(super) range: [f32; 4],
    /// 1 for each region set that people stay out of (`RegionSelector::spares_people`).
    pub(super) spare: [f32; 4],
    /// Per region set painted one colour (`region_colour`): its mean colour, and the columns
    /// of its colour covariance's inverse (zero where the set has no colour model: every
    /// pixel keeps its membership).
    pub(super) colour_mean: [[f32; 4]; 4],
    pub(super) colour_inverse: [[f32; 4]; 12],
    /// x, y: the squared distances over which a pixel leaves a painted region.
    pub(super) colour_outlier: [f32; 4],
    /// x: 1 when the person mask and depth map were made on this frame, 0 when carried from
    /// an older one (analysis.wgsl: only fresh ones take the temporal filter's fast path);
    /// y: the share of the last frame's remembered motion that still counts on this one.
    pub(super) temporal: [f32; 4],
}

/// Which shader a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shader {
    Repaint,
    Texture,
    Blur,
    Background,
    Bokeh,
    Fog,
    Style,
    Lut,
    Toon,
    Grain,
    Vignette,
    Focus,
}

impl Shader {
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Where a pass reads `current` and `aux` from and writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// The picture so far (ping-pong).
    Picture,
    BlurA,
    BlurB,
    Stylized,
    Nothing,
}

#[derive(Debug)]
pub(super) struct Pass {
    pub(super) shader: Shader,
    pub(super) uniform: wgpu::Buffer,
    /// Uniform contents except per-frame fields (reference colour, frame index).
    pub(super) base: LayerUniform,
    pub(super) region_slot: Option<usize>,
    pub(super) input: Slot,
    pub(super) aux: Slot,
    pub(super) output: Slot,
    pub(super) lut: Option<usize>,
}

/// One pass as planned from a layer, before its uniform buffer exists.
struct PassPlan {
    shader: Shader,
    uniform: LayerUniform,
    region_slot: Option<usize>,
    input: Slot,
    aux: Slot,
    output: Slot,
    lut: Option<usize>,
}

impl PassPlan {
    /// A pass that draws the picture over itself, within the layer's region.
    fn on_picture(shader: Shader, uniform: LayerUniform, region_slot: Option<usize>) -> Self {
        Self {
            shader,
            uniform,
            region_slot,
            input: Slot::Picture,
            aux: Slot::Nothing,
            output: Slot::Picture,
            lut: None,
        }
    }

    /// A region-free pass from `input` into `output` (an intermediate image).
    fn between(shader: Shader, uniform: LayerUniform, input: Slot, output: Slot) -> Self {
        Self { input, output, ..Self::on_picture(shader, uniform, None) }
    }

    /// The pass also reads `aux`.
    fn reading(self, aux: Slot) -> Self {
        Self { aux, ..self }
    }

    /// The pass also reads LUT number `lut`.
    fn with_lut(self, lut: usize) -> Self {
        Self { lut: Some(lut), ..self }
    }

    /// The pass with its uniform buffer, colours made linear once here rather than per pixel.
    fn build(self, context: &RenderContext) -> Pass {
        let linear =
            |c: [f32; 4]| [srgb_to_linear(c[0]), srgb_to_linear(c[1]), srgb_to_linear(c[2]), c[3]];
        let base = LayerUniform {
            colour_linear: linear(self.uniform.colour),
            accent_linear: linear(self.uniform.accent),
            ..self.uniform
        };
        Pass {
            shader: self.shader,
            uniform: context.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("layer uniform"),
                contents: bytemuck::bytes_of(&base),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            }),
            base,
            region_slot: self.region_slot,
            input: self.input,
            aux: self.aux,
            output: self.output,
            lut: self.lut,
        }
    }
}

/// The distinct regions the layers act on, in order: each gets one channel of the mask.
fn region_sets_of(layers: &[Layer]) -> Result<Vec<RegionSelector>, RenderError> {
    let mut region_sets: Vec<RegionSelector> = Vec::new();
    for layer in layers {
        if layer.region.needs_segmentation() && !region_sets.contains(&layer.region) {
            region_sets.push(layer.region.clone());
        }
    }
    if region_sets.len() > MAX_REGION_SETS {
        return Err(RenderError::Setup(format!(
            "the layers use {} different regions; at most {MAX_REGION_SETS} fit in one stack",
            region_sets.len()
        )));
    }
    Ok(region_sets)
}

/// Whether a texture on `region` lies flat (floors, rugs, ceilings) rather than upright.
fn lies_flat(region: &RegionSelector) -> bool {
    matches!(region, RegionSelector::Named(names)
        if names.iter().all(|n| Region::of_label(n).is_horizontal()))
}

impl Compositor {
    /// Replaces the effect stack (pipelines stay; per-layer buffers are rebuilt).
    pub fn set_layers(
        &mut self,
        context: &RenderContext,
        layers: &[Layer],
        luts: &[Lut],
    ) -> Result<(), RenderError> {
        let lut_layers = layers.iter().filter(|l| matches!(l.effect, Effect::Lut { .. })).count();
        if lut_layers != luts.len() {
            return Err(RenderError::Setup(format!(
                "{lut_layers} lut layers but {} LUTs given",
                luts.len()
            )));
        }
        let region_sets = region_sets_of(layers)?;
        let mut plans = Vec::new();
        let mut lut_index = 0;
        for layer in layers {
            let region_slot = region_sets
                .iter()
                .position(|r| *r == layer.region)
                .filter(|_| layer.region.needs_segmentation());
            plans.extend(self.plan_layer(layer, region_slot, luts, &mut lut_index));
        }
        self.passes = plans.into_iter().map(|plan| plan.build(context)).collect();
        self.luts = luts.iter().map(|lut| Self::lut_texture(context, lut)).collect();
        self.lut_sizes = luts.iter().map(|l| l.size).collect();
        self.region_sets = region_sets;
        self.region_colours = Default::default();
        self.resolved = None;
        self.membership_of = None;
        Ok(())
    }

    /// The passes of one layer; `lut_index` counts the LUT layers planned so far.
    fn plan_layer(
        &self,
        layer: &Layer,
        region_slot: Option<usize>,
        luts: &[Lut],
        lut_index: &mut usize,
    ) -> Vec<PassPlan> {
        let (width, height) = (self.size.0 as f32, self.size.1 as f32);
        let mut region = [0.0f32; 4];
        if let Some(slot) = region_slot {
            region[slot] = 1.0;
        }
        let base = LayerUniform {
            size: [width, height, 1.0 / width, 1.0 / height],
            region,
            lut_domain_max: [1.0; 4],
            ..Zeroable::zeroed()
        };
        let single = |shader, uniform| vec![PassPlan::on_picture(shader, uniform, region_slot)];
        let params = |params: [f32; 4]| LayerUniform { params, ..base };
        match &layer.effect {
            Effect::Repaint { colour, strength } => {
                single(Shader::Repaint, LayerUniform { colour: srgb4(colour.0, *strength), ..base })
            }
            Effect::Texture { pattern, colour, accent, scale, strength } => {
                let flat = f32::from(u8::from(lies_flat(&layer.region)));
                let uniform = LayerUniform {
                    colour: srgb4(colour.0, *strength),
                    accent: srgb4(accent.0, 0.0),
                    params: [pattern.index() as f32, *scale, flat, 0.6],
                    ..base
                };
                single(Shader::Texture, uniform)
            }
            Effect::BackgroundBlur { radius, threshold, feather } => {
                self.background_blur(base, region_slot, *radius, [*threshold, *feather])
            }
            Effect::BackgroundReplace { colour, accent, threshold, feather } => single(
                Shader::Background,
                LayerUniform {
                    colour: srgb4(colour.0, 1.0),
                    accent: srgb4(accent.0, 0.0),
                    params: [*threshold, *feather, 1.0, 0.0],
                    ..base
                },
            ),
            Effect::DepthOfField { focus_depth, focus_point, strength } => {
                // The bokeh gathers at half resolution (a quarter of the pixels; its discs
                // are wide and soft), then the in-focus parts come back sharp at full
                // resolution, blended by the circle of confusion.
                let focus =
                    [*strength, focus_point[0], focus_point[1], focus_depth.unwrap_or(-1.0)];
                let half = LayerUniform { size: half_size_uniform(self.size), ..params(focus) };
                vec![
                    PassPlan::between(Shader::Bokeh, half, Slot::Picture, Slot::BlurA),
                    PassPlan::on_picture(Shader::Focus, params(focus), region_slot)
                        .reading(Slot::BlurA),
                ]
            }
            Effect::DepthFog { colour, density } => {
                single(Shader::Fog, LayerUniform { colour: srgb4(colour.0, *density), ..base })
            }
            Effect::Style { strength, .. } | Effect::Restyle { strength, .. } => {
                let uniform = LayerUniform { colour: [0.0, 0.0, 0.0, *strength], ..base };
                vec![
                    PassPlan::on_picture(Shader::Style, uniform, region_slot)
                        .reading(Slot::Stylized),
                ]
            }
            Effect::Lut { strength, .. } => {
                let lut = &luts[*lut_index];
                let uniform = LayerUniform {
                    colour: [0.0, 0.0, 0.0, *strength],
                    params: [lut.size as f32, 0.0, 0.0, 0.0],
                    lut_domain_min: srgb4(lut.domain_min, 0.0),
                    lut_domain_max: srgb4(lut.domain_max, 1.0),
                    ..base
                };
                let plan =
                    PassPlan::on_picture(Shader::Lut, uniform, region_slot).with_lut(*lut_index);
                *lut_index += 1;
                vec![plan]
            }
            Effect::Toon { levels, edges } => {
                single(Shader::Toon, params([*levels, *edges, 0.0, 0.0]))
            }
            Effect::Grain { amount } => single(Shader::Grain, params([*amount, 0.0, 0.0, 0.0])),
            Effect::Vignette { amount } => {
                single(Shader::Vignette, params([*amount, 0.0, 0.0, 0.0]))
            }
        }
    }

    /// The background blur's passes: the picture blurred at half resolution (a quarter of the
    /// pixels and half the taps; the composite samples it bilinearly, which a wide blur does
    /// not show), one direction at a time, then composited behind the person by `mask`
    /// (threshold and feather).
    fn background_blur(
        &self,
        base: LayerUniform,
        region_slot: Option<usize>,
        radius: f32,
        mask: [f32; 2],
    ) -> Vec<PassPlan> {
        let radius = radius * self.size.0 as f32 / 1280.0 / 2.0;
        let half = LayerUniform { size: half_size_uniform(self.size), ..base };
        let blur = |params| LayerUniform { params, ..half };
        let composite = LayerUniform { params: [mask[0], mask[1], 0.0, 0.0], ..base };
        vec![
            PassPlan::between(
                Shader::Blur,
                blur([1.0, 0.0, radius, 1.0]),
                Slot::Picture,
                Slot::BlurA,
            ),
            PassPlan::between(
                Shader::Blur,
                blur([0.0, 1.0, radius, 1.0]),
                Slot::BlurA,
                Slot::BlurB,
            ),
            PassPlan::on_picture(Shader::Background, composite, region_slot).reading(Slot::BlurB),
        ]
    }

    pub(super) fn lut_texture(context: &RenderContext, lut: &Lut) -> Target {
        let n = lut.size;
        let data: Vec<u16> = lut
            .table
            .iter()
            .flat_map(|rgb| [f16_bits(rgb[0]), f16_bits(rgb[1]), f16_bits(rgb[2]), f16_bits(1.0)])
            .collect();
        let texture = context.device.create_texture_with_data(
            &context.queue,
            &wgpu::TextureDescriptor {
                label: Some("lut"),
                size: wgpu::Extent3d { width: n, height: n, depth_or_array_layers: n },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format: wgpu::TextureFormat::Rgba16Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            bytemuck::cast_slice(&data),
        );
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Target { texture, view }
    }
}
