//! Motion for the temporal filter, measured at a quarter of the frame's size: each frame is
//! averaged over 4x4 pixels and compared with the last frame's averages (`motion.wgsl`), so the
//! full-size analysis pass reads one small texture instead of two full frames per pixel; then
//! spread over a texel around (`motion_near.wgsl`), as the filter's fast path reaches past the
//! pixels that changed.

use super::{COMPOSITE_FORMAT, D2, FLOAT, composite_target, sampler_entry, texture_entry};
use crate::render::bindings::{Target, draw_fullscreen, fullscreen_pipeline, target, view_entry};
use crate::render::{context::RenderContext, shaders};

/// Two quarter-size targets used in turn: this frame's and the last one's; and the newest
/// one's motion spread over a texel around.
pub(super) struct MotionGuides {
    pipeline: wgpu::RenderPipeline,
    targets: [Target; 2],
    /// `groups[i]` writes `targets[i]`, reading the frame and the other target.
    groups: [wgpu::BindGroup; 2],
    /// Which target holds the newest frame.
    current: usize,
    near_pipeline: wgpu::RenderPipeline,
    near: Target,
    /// `near_groups[i]` reads `targets[i]`.
    near_groups: [wgpu::BindGroup; 2],
}

impl MotionGuides {
    pub(super) fn new(
        device: &wgpu::Device,
        frame: &wgpu::TextureView,
        sampler: &wgpu::Sampler,
        frame_size: (u32, u32),
    ) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("motion"),
            entries: &[texture_entry(0, FLOAT, D2), sampler_entry(1), texture_entry(2, FLOAT, D2)],
        });
        let pipeline = fullscreen_pipeline(
            device,
            "motion",
            &layout,
            &shaders::standalone("motion"),
            "fs_main",
            &composite_target(),
            &[],
        );
        let size = (frame_size.0.div_ceil(4), frame_size.1.div_ceil(4));
        let usage = wgpu::TextureUsages::RENDER_ATTACHMENT;
        let targets = [
            target(device, "motion a", size, COMPOSITE_FORMAT, usage),
            target(device, "motion b", size, COMPOSITE_FORMAT, usage),
        ];
        let group = |previous: &Target| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("motion"),
                layout: &layout,
                entries: &[
                    view_entry(0, frame),
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::Sampler(sampler),
                    },
                    view_entry(2, &previous.view),
                ],
            })
        };
        let groups = [group(&targets[1]), group(&targets[0])];
        let near_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("motion near"),
            entries: &[texture_entry(0, FLOAT, D2)],
        });
        let near_pipeline = fullscreen_pipeline(
            device,
            "motion near",
            &near_layout,
            &shaders::standalone("motion_near"),
            "fs_main",
            &composite_target(),
            &[],
        );
        let near_group = |motion: &Target| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("motion near"),
                layout: &near_layout,
                entries: &[view_entry(0, &motion.view)],
            })
        };
        let near_groups = [near_group(&targets[0]), near_group(&targets[1])];
        let near = target(device, "motion near", size, COMPOSITE_FORMAT, usage);
        Self { pipeline, targets, groups, current: 0, near_pipeline, near, near_groups }
    }

    /// Records this frame's averages and their change since the last recorded frame, and that
    /// change spread over a texel around.
    pub(super) fn render(&mut self, context: &RenderContext, encoder: &mut wgpu::CommandEncoder) {
        self.current = 1 - self.current;
        let (target, group) = (&self.targets[self.current], &self.groups[self.current]);
        draw_fullscreen(encoder, context, "motion", &[&target.view], &self.pipeline, group);
        let (near, group) = (&self.near, &self.near_groups[self.current]);
        draw_fullscreen(encoder, context, "motion near", &[&near.view], &self.near_pipeline, group);
    }

    /// The newest frame's motion within a texel around (alpha).
    pub(super) fn near_view(&self) -> &wgpu::TextureView {
        &self.near.view
    }
}
