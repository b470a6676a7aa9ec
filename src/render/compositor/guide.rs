//! Guides: the frame averaged down to an analysis map's size. The edge-aware upsampling compares
//! each pixel against the guide of a map: the colour the model saw there.

use super::{COMPOSITE_FORMAT, composite_target, sampler_entry, texture_entry, uniform_entry};
use crate::render::bindings::{Target, draw_fullscreen, fullscreen_pipeline, target, view_entry};
use crate::render::{context::RenderContext, shaders};

/// The averaging shader, shared by every guide of a compositor.
pub(super) struct GuideShader {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
}

impl GuideShader {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("guide"),
            entries: &[
                uniform_entry(0),
                texture_entry(1, super::FLOAT, super::D2),
                sampler_entry(2),
            ],
        });
        let pipeline = fullscreen_pipeline(
            device,
            "guide",
            &layout,
            &shaders::standalone("guide"),
            "fs_main",
            &composite_target(),
            &[],
        );
        Self { layout, pipeline }
    }
}

/// One guide texture, resized with the map it belongs to. Its bind group (uniform, frame,
/// sampler) does not depend on the size, so it is made once.
pub(super) struct Guide {
    pub(super) target: Target,
    size: (u32, u32),
    uniform: wgpu::Buffer,
    group: wgpu::BindGroup,
}

impl Guide {
    /// A guide averaging `frame` (sampled with `sampler`); 1x1 until first rendered.
    pub(super) fn new(
        device: &wgpu::Device,
        shader: &GuideShader,
        frame: &wgpu::TextureView,
        sampler: &wgpu::Sampler,
    ) -> Self {
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("guide uniform"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("guide"),
            layout: &shader.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                view_entry(1, frame),
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Sampler(sampler),
                },
            ],
        });
        Self { target: guide_target(device, (1, 1)), size: (1, 1), uniform, group }
    }

    /// Records the frame averaged down to `size` into this guide.
    pub(super) fn render(
        &mut self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        shader: &GuideShader,
        size: (u32, u32),
    ) {
        if self.size != size {
            self.target = guide_target(&context.device, size);
            self.size = size;
            let uniform = [size.0 as f32, size.1 as f32, 0.0, 0.0];
            context.queue.write_buffer(&self.uniform, 0, bytemuck::cast_slice(&uniform));
        }
        draw_fullscreen(
            encoder,
            context,
            "guide",
            &[&self.target.view],
            &shader.pipeline,
            &self.group,
        );
    }
}

fn guide_target(device: &wgpu::Device, size: (u32, u32)) -> Target {
    target(device, "guide", size, COMPOSITE_FORMAT, wgpu::TextureUsages::RENDER_ATTACHMENT)
}
