//! Carrying analysis maps and stylized keyframes made on older frames onto the frame shown, on
//! the GPU (`carry.wgsl`): the motion field goes up as a tiny texture and each map is resampled
//! at its own resolution in one pass, so the CPU only estimates the motion.

use crate::scene::{ClassMap, Motion, ScalarMap, Stylized};

use super::{
    bindings::{
        Target, Upload, draw_fullscreen, fullscreen_pipeline, target, texture_entry, uniform_entry,
        view_entry,
    },
    context::{RenderContext, RenderError},
    readback, shaders,
};

/// What a carry pass resamples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Region membership from the class map: nearest texel (classes do not blend).
    Regions,
    /// Person mask or depth (`R32Float`): bilinear.
    Scalars,
}

/// One carried map: its motion field and the resampled result.
pub(super) struct Carried {
    flow: Upload,
    output: Target,
    size: (u32, u32),
    format: wgpu::TextureFormat,
}

impl Carried {
    pub(super) fn new(
        device: &wgpu::Device,
        label: &'static str,
        format: wgpu::TextureFormat,
    ) -> Self {
        Self {
            flow: Upload::new(device, label, FLOW_FORMAT, 8),
            output: target(
                device,
                label,
                (1, 1),
                format,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            ),
            size: (1, 1),
            format,
        }
    }

    /// The result of the last [`Carrier::carry`].
    pub(super) fn view(&self) -> &wgpu::TextureView {
        &self.output.view
    }
}

/// A stylized keyframe uploaded once per picture.
struct KeyframeSlot {
    id: Option<u64>,
    upload: Upload,
    flow: Upload,
}

/// The stylized picture of one frame: the keyframes carried and cross-faded.
pub(super) struct KeyframeTarget {
    slots: [KeyframeSlot; 2],
    output: Target,
    size: (u32, u32),
    uniform: wgpu::Buffer,
}

impl KeyframeTarget {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let slot = |label| KeyframeSlot {
            id: None,
            upload: Upload::new(device, label, wgpu::TextureFormat::Rgba8Unorm, 4),
            flow: Upload::new(device, label, FLOW_FORMAT, 8),
        };
        Self {
            slots: [slot("keyframe a"), slot("keyframe b")],
            output: target(
                device,
                "stylized",
                (1, 1),
                wgpu::TextureFormat::Rgba8Unorm,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            ),
            size: (1, 1),
            uniform: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("keyframe fade"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }

    /// The stylized picture of the last [`Carrier::keyframes`].
    pub(super) fn view(&self) -> &wgpu::TextureView {
        &self.output.view
    }
}

/// Motion fields: two floats per grid point (unfilterable, read with `textureLoad`).
pub(super) const FLOW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rg32Float;

/// The carry pipelines, built once.
pub(super) struct Carrier {
    layout: wgpu::BindGroupLayout,
    regions: wgpu::RenderPipeline,
    scalars: wgpu::RenderPipeline,
    keyframe: wgpu::RenderPipeline,
    /// Bound where a pass has no uniform to read.
    unused_uniform: wgpu::Buffer,
}

impl Carrier {
    pub(super) fn new(device: &wgpu::Device, regions_format: wgpu::TextureFormat) -> Self {
        let unfilterable = wgpu::TextureSampleType::Float { filterable: false };
        let d2 = wgpu::TextureViewDimension::D2;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("carry"),
            entries: &[
                uniform_entry(0),
                texture_entry(1, unfilterable, d2),
                texture_entry(2, unfilterable, d2),
                texture_entry(3, unfilterable, d2),
                texture_entry(4, unfilterable, d2),
            ],
        });
        let source = shaders::standalone("carry");
        let pipeline = |entry: &str, format: wgpu::TextureFormat| {
            let target =
                wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL };
            fullscreen_pipeline(device, entry, &layout, &source, entry, &[Some(target)], &[])
        };
        Self {
            regions: pipeline("fs_nearest", regions_format),
            scalars: pipeline("fs_linear", wgpu::TextureFormat::R32Float),
            keyframe: pipeline("fs_keyframe", wgpu::TextureFormat::Rgba8Unorm),
            unused_uniform: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("carry unused"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM,
                mapped_at_creation: false,
            }),
            layout,
        }
    }

    /// Records the pass carrying `source` (a view and its size) by `motion` into `carried`.
    pub(super) fn carry(
        &self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        kind: Kind,
        (source, size): (&wgpu::TextureView, (u32, u32)),
        motion: &Motion,
        carried: &mut Carried,
    ) {
        write_motion(context, &mut carried.flow, motion);
        if carried.size != size {
            carried.output = target(
                &context.device,
                "carried",
                size,
                carried.format,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            );
            carried.size = size;
        }
        let group =
            self.group(context, &self.unused_uniform, source, &carried.flow.target.view, None);
        let pipeline = match kind {
            Kind::Regions => &self.regions,
            Kind::Scalars => &self.scalars,
        };
        draw_fullscreen(encoder, context, "carry", &[&carried.output.view], pipeline, &group);
    }

    /// Records the keyframe pass: `stylized`'s keyframes uploaded (each picture once), carried
    /// and cross-faded into `out` at the newest keyframe's size.
    pub(super) fn keyframes(
        &self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        stylized: &Stylized,
        out: &mut KeyframeTarget,
    ) {
        let current = upload_keyframe(context, &mut out.slots, &stylized.current, None);
        let previous = stylized
            .previous
            .as_ref()
            .filter(|_| stylized.fade < 1.0)
            .map(|keyframe| upload_keyframe(context, &mut out.slots, keyframe, Some(current)));
        let size = stylized.current.picture.dimensions();
        if out.size != size {
            out.output = target(
                &context.device,
                "stylized",
                size,
                wgpu::TextureFormat::Rgba8Unorm,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            );
            out.size = size;
        }
        let params =
            [stylized.fade.clamp(0.0, 1.0), f32::from(u8::from(previous.is_some())), 0.0, 0.0];
        context.queue.write_buffer(&out.uniform, 0, bytemuck::cast_slice(&params));
        let slot = |i: usize| (&out.slots[i].upload.target.view, &out.slots[i].flow.target.view);
        let (source, flow) = slot(current);
        let older = previous.map(slot);
        let group = self.group(context, &out.uniform, source, flow, older);
        draw_fullscreen(encoder, context, "keyframes", &[&out.output.view], &self.keyframe, &group);
    }

    fn group(
        &self,
        context: &RenderContext,
        uniform: &wgpu::Buffer,
        source: &wgpu::TextureView,
        flow: &wgpu::TextureView,
        older: Option<(&wgpu::TextureView, &wgpu::TextureView)>,
    ) -> wgpu::BindGroup {
        let (older, older_flow) = older.unwrap_or((source, flow));
        context.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("carry"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                view_entry(1, source),
                view_entry(2, flow),
                view_entry(3, older),
                view_entry(4, older_flow),
            ],
        })
    }

    /// A motion field that moves nothing, for keyframes shown on their own frame.
    pub(super) fn still_motion() -> Motion {
        Motion { cols: 1, rows: 1, vectors: vec![[0.0, 0.0]] }
    }
}

/// Puts `keyframe` in a slot (reusing one that already holds it, never `keep`) and writes its
/// motion; returns the slot.
fn upload_keyframe(
    context: &RenderContext,
    slots: &mut [KeyframeSlot; 2],
    keyframe: &crate::scene::Keyframe,
    keep: Option<usize>,
) -> usize {
    let index = slots
        .iter()
        .position(|s| s.id == Some(keyframe.id))
        .filter(|&i| Some(i) != keep)
        .unwrap_or(if keep == Some(0) {
            1
        } else if keep == Some(1) {
            0
        } else {
            oldest(slots)
        });
    let slot = &mut slots[index];
    if slot.id != Some(keyframe.id) {
        let picture = &keyframe.picture;
        slot.upload.write(context, picture.dimensions(), picture.as_raw());
        slot.id = Some(keyframe.id);
    }
    let still = Carrier::still_motion();
    write_motion(context, &mut slot.flow, keyframe.motion.as_ref().unwrap_or(&still));
    index
}

/// The slot holding the older picture (lower id), which a new one replaces.
fn oldest(slots: &[KeyframeSlot; 2]) -> usize {
    match (slots[0].id, slots[1].id) {
        (None, _) => 0,
        (_, None) => 1,
        (Some(a), Some(b)) => usize::from(b < a),
    }
}

/// Uploads `motion` into `flow` (a grid of the wrong length moves nothing, with a warning).
pub(super) fn write_motion(context: &RenderContext, flow: &mut Upload, motion: &Motion) {
    let expected = (motion.cols * motion.rows) as usize;
    let vectors: &[[f32; 2]] = if motion.vectors.len() == expected && expected > 0 {
        &motion.vectors
    } else {
        tracing::warn!(
            "a motion grid of {}x{} came with {} vectors; shown unmoved",
            motion.cols,
            motion.rows,
            motion.vectors.len()
        );
        &[[0.0, 0.0]]
    };
    let size = if vectors.len() == 1 { (1, 1) } else { (motion.cols, motion.rows) };
    flow.write(context, size, bytemuck::cast_slice(vectors));
}

/// A person mask or depth map carried by `motion` on the GPU and read back. The compositor
/// carries in place; this is for tools and tests.
pub fn carried_scalars(
    context: &RenderContext,
    map: &ScalarMap,
    motion: &Motion,
) -> Result<ScalarMap, RenderError> {
    let device = &context.device;
    let mut upload = Upload::new(device, "scalars", wgpu::TextureFormat::R32Float, 4);
    upload.write(context, (map.width, map.height), bytemuck::cast_slice(&map.values));
    let mut carried = Carried::new(device, "carried scalars", wgpu::TextureFormat::R32Float);
    let bytes = run(context, |carrier, encoder| {
        let size = (map.width, map.height);
        carrier.carry(
            context,
            encoder,
            Kind::Scalars,
            (&upload.target.view, size),
            motion,
            &mut carried,
        );
    })
    .and_then(|()| readback::read_texture(context, &carried.output.texture))?;
    let values =
        bytes.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(ScalarMap { width: map.width, height: map.height, values })
}

/// A class map carried by `motion` on the GPU (nearest class) and read back.
pub fn carried_classes(
    context: &RenderContext,
    map: &ClassMap,
    motion: &Motion,
) -> Result<ClassMap, RenderError> {
    let device = &context.device;
    let mut upload = Upload::new(device, "classes", wgpu::TextureFormat::Rgba8Unorm, 4);
    let texels: Vec<u8> = map.classes.iter().flat_map(|&c| [c, 0, 0, 255]).collect();
    upload.write(context, (map.width, map.height), &texels);
    let mut carried = Carried::new(device, "carried classes", wgpu::TextureFormat::Rgba8Unorm);
    run(context, |carrier, encoder| {
        let size = (map.width, map.height);
        carrier.carry(
            context,
            encoder,
            Kind::Regions,
            (&upload.target.view, size),
            motion,
            &mut carried,
        );
    })?;
    let bytes = readback::read_texture(context, &carried.output.texture)?;
    Ok(ClassMap { classes: bytes.chunks_exact(4).map(|t| t[0]).collect(), ..map.clone() })
}

/// The stylized picture `stylized` makes (keyframes carried and cross-faded), read back.
pub fn projected_keyframes(
    context: &RenderContext,
    stylized: &Stylized,
) -> Result<image::RgbaImage, RenderError> {
    let mut out = KeyframeTarget::new(&context.device);
    run(context, |carrier, encoder| carrier.keyframes(context, encoder, stylized, &mut out))?;
    readback::read_rgba8(context, &out.output.texture)
}

/// Records with a fresh [`Carrier`] and submits.
fn run(
    context: &RenderContext,
    record: impl FnOnce(&Carrier, &mut wgpu::CommandEncoder),
) -> Result<(), RenderError> {
    let carrier = Carrier::new(&context.device, wgpu::TextureFormat::Rgba8Unorm);
    let mut encoder = context
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("carry") });
    record(&carrier, &mut encoder);
    context.queue.submit([encoder.finish()]);
    context.check_errors()
}
