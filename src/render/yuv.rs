//! The edited picture converted to I420 on the GPU for the H.264 encoder: one pass into an R8
//! texture laid out exactly as the encoder's planes, so the readback carries 1.5 bytes per pixel
//! instead of 4 and the recorder does no colour conversion.

use super::{
    bindings::{draw_fullscreen, fullscreen_pipeline},
    context::{RenderContext, RenderError},
    shaders,
};

/// Converts pictures to I420 at one output size (both sides even).
pub struct I420Converter {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
    sampler: wgpu::Sampler,
    uniform: wgpu::Buffer,
    target: wgpu::Texture,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
    /// Reads each picture back through one staging buffer.
    reader: super::readback::Reader,
}

impl std::fmt::Debug for I420Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I420Converter")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl I420Converter {
    /// A converter to `width` x `height`, each rounded down to even (4:2:0 needs even sizes).
    pub fn new(context: &RenderContext, width: u32, height: u32) -> Self {
        let (width, height) = ((width & !1).max(2), (height & !1).max(2));
        let device = &context.device;
        let texture_entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty,
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("i420"),
            entries: &[
                texture_entry(
                    0,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                texture_entry(
                    1,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                ),
                texture_entry(2, wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering)),
            ],
        });
        let pipeline = fullscreen_pipeline(
            device,
            "i420",
            &layout,
            &shaders::standalone("i420"),
            "fs_main",
            &[Some(wgpu::TextureFormat::R8Unorm.into())],
            &[],
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("i420"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("i420 size"),
            size: 32,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("i420"),
            size: wgpu::Extent3d { width, height: height * 3 / 2, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R8Unorm,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let reader = super::readback::Reader::default();
        Self { layout, pipeline, sampler, uniform, target, view, width, height, reader }
    }

    /// The output size (even).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Records the conversion of `source` (of `source_size`) into [`I420Converter::target`]:
    /// scaled to the output size, or cropped by its odd row or column when that is the only
    /// difference.
    pub fn encode(
        &self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::TextureView,
        source_size: (u32, u32),
    ) {
        let (sw, sh) = (source_size.0.max(1), source_size.1.max(1));
        let crop = (sw & !1, sh & !1) == (self.width, self.height);
        let (fw, fh) = if crop { (sw, sh) } else { (self.width, self.height) };
        let mut params = [0u8; 32];
        params[..8].copy_from_slice(bytemuck::cast_slice(&[self.width, self.height]));
        params[16..24].copy_from_slice(bytemuck::cast_slice(&[1.0 / fw as f32, 1.0 / fh as f32]));
        context.queue.write_buffer(&self.uniform, 0, &params);
        let group = context.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("i420"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.uniform.as_entire_binding() },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(source),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        draw_fullscreen(encoder, context, "i420", &[&self.view], &self.pipeline, &group);
    }

    /// Converts `source` (of `source_size`) and reads the I420 planes back, waiting for them
    /// (headless processing; the live window uses the asynchronous ring instead).
    pub fn convert_and_read(
        &self,
        context: &RenderContext,
        source: &wgpu::Texture,
        source_size: (u32, u32),
    ) -> Result<Vec<u8>, RenderError> {
        let view = source.create_view(&Default::default());
        let mut encoder = context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("i420") });
        self.encode(context, &mut encoder, &view, source_size);
        context.queue.submit([encoder.finish()]);
        self.reader.read_texture(context, &self.target)
    }

    /// The I420 picture: `width * height * 3 / 2` bytes once read back.
    pub fn target(&self) -> &wgpu::Texture {
        &self.target
    }
}
