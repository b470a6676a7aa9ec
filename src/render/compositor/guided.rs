//! Region membership refined by the picture on the GPU (`guided.wgsl`): the fast guided filter's
//! coefficients, fitted and averaged on a grid of 8x8-pixel colour averages. The analysis pass
//! applies them per pixel.

use super::{D2, FLOAT, sampler_entry, texture_entry, uniform_entry};
use crate::render::bindings::{Target, draw_fullscreen, fullscreen_pipeline, target, view_entry};
use crate::{
    render::{context::RenderContext, shaders},
    scene::{GUIDED_CELL, GUIDED_EPS, GUIDED_RADIUS},
};

/// Coefficients keep fp16: `a` stays within a few hundred at this regularisation.
const COEFFICIENT_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;

/// The two passes and their textures, sized for one frame size.
pub(super) struct GuidedFilter {
    coefficients_layout: wgpu::BindGroupLayout,
    mean_layout: wgpu::BindGroupLayout,
    coefficients_pipeline: wgpu::RenderPipeline,
    mean_pipeline: wgpu::RenderPipeline,
    uniform: wgpu::Buffer,
    /// Per region set: `a` (rgb) and `b` (alpha), fitted per window.
    fitted: [Target; 4],
    /// The same averaged over each cell's window: what the analysis pass applies.
    averaged: [Target; 4],
}

impl GuidedFilter {
    /// The grid for a frame of `size`: one cell per `GUIDED_CELL` pixels a side.
    pub(super) fn grid(size: (u32, u32)) -> (u32, u32) {
        ((size.0 / GUIDED_CELL).max(1), (size.1 / GUIDED_CELL).max(1))
    }

    pub(super) fn new(device: &wgpu::Device, frame_size: (u32, u32)) -> Self {
        let coefficients_layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("guided coefficients"),
                entries: &[
                    uniform_entry(0),
                    texture_entry(1, FLOAT, D2),
                    texture_entry(2, FLOAT, D2),
                    sampler_entry(3),
                ],
            });
        let mean_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("guided mean"),
            entries: &[
                uniform_entry(0),
                texture_entry(4, FLOAT, D2),
                texture_entry(5, FLOAT, D2),
                texture_entry(6, FLOAT, D2),
                texture_entry(7, FLOAT, D2),
            ],
        });
        let source = shaders::standalone("guided");
        let targets = [0; 4].map(|_| {
            Some(wgpu::ColorTargetState {
                format: COEFFICIENT_FORMAT,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })
        });
        let pipeline = |layout, entry| {
            let radius = [("RADIUS", GUIDED_RADIUS as f64)];
            fullscreen_pipeline(device, "guided", layout, &source, entry, &targets, &radius)
        };
        let coefficients_pipeline = pipeline(&coefficients_layout, "fs_coefficients");
        let mean_pipeline = pipeline(&mean_layout, "fs_mean");
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("guided uniform"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let grid = Self::grid(frame_size);
        let texture = |label| {
            target(device, label, grid, COEFFICIENT_FORMAT, wgpu::TextureUsages::RENDER_ATTACHMENT)
        };
        Self {
            coefficients_layout,
            mean_layout,
            coefficients_pipeline,
            mean_pipeline,
            uniform,
            fitted: [0; 4].map(|_| texture("guided fitted")),
            averaged: [0; 4].map(|_| texture("guided averaged")),
        }
    }

    /// Records both passes: `grid_colour` is the frame averaged to [`GuidedFilter::grid`],
    /// `membership` the region sets' membership on the region grid.
    pub(super) fn render(
        &self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        grid_colour: &wgpu::TextureView,
        membership: &wgpu::TextureView,
        sampler: &wgpu::Sampler,
    ) {
        let params = [0.0, GUIDED_EPS, 0.0, 0.0];
        context.queue.write_buffer(&self.uniform, 0, bytemuck::cast_slice(&params));
        let device = &context.device;
        let uniform =
            wgpu::BindGroupEntry { binding: 0, resource: self.uniform.as_entire_binding() };
        let fit = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("guided coefficients"),
            layout: &self.coefficients_layout,
            entries: &[
                uniform.clone(),
                view_entry(1, grid_colour),
                view_entry(2, membership),
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(sampler),
                },
            ],
        });
        let fitted = self.fitted.each_ref().map(|t| &t.view);
        draw_fullscreen(
            encoder,
            context,
            "guided coefficients",
            &fitted,
            &self.coefficients_pipeline,
            &fit,
        );
        let mean = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("guided mean"),
            layout: &self.mean_layout,
            entries: &[
                uniform,
                view_entry(4, fitted[0]),
                view_entry(5, fitted[1]),
                view_entry(6, fitted[2]),
                view_entry(7, fitted[3]),
            ],
        });
        let averaged = self.averaged.each_ref().map(|t| &t.view);
        draw_fullscreen(encoder, context, "guided mean", &averaged, &self.mean_pipeline, &mean);
    }

    /// The averaged coefficients of each region set, for the analysis pass.
    pub(super) fn views(&self) -> [&wgpu::TextureView; 4] {
        self.averaged.each_ref().map(|t| &t.view)
    }
}
