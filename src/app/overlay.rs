//! The controls and HUD over the picture (egui), laid out again only when something may have
//! changed: an input event, egui asking for it (an animation), the window's size, or the HUD's
//! refresh interval. In between, the last layout is drawn as it is, so a frame with nothing new
//! on the panel costs one render pass instead of a layout, a tessellation and buffer uploads.

use std::time::{Duration, Instant};

use winit::{event::WindowEvent, window::Window};

use crate::render::RenderContext;

/// How often the HUD's numbers (rates, latencies, the banner) are refreshed without input.
const HUD_INTERVAL: Duration = Duration::from_millis(250);

pub(super) struct Overlay {
    ctx: egui::Context,
    state: egui_winit::State,
    renderer: egui_wgpu::Renderer,
    /// The last layout, drawn until the next one.
    jobs: Vec<egui::epaint::ClippedPrimitive>,
    descriptor: Option<egui_wgpu::ScreenDescriptor>,
    /// When the layout is made again at the latest; `None`: at the next frame.
    due: Option<Instant>,
    /// Textures the last layout no longer uses, freed once it has been drawn.
    to_free: Vec<egui::TextureId>,
}

impl Overlay {
    pub(super) fn new(context: &RenderContext, window: &Window) -> Self {
        let ctx = egui::Context::default();
        let state = egui_winit::State::new(
            ctx.clone(),
            egui::ViewportId::ROOT,
            window,
            Some(window.scale_factor() as f32),
            None,
            Some(context.device.limits().max_texture_dimension_2d as usize),
        );
        let renderer = egui_wgpu::Renderer::new(
            &context.device,
            wgpu::TextureFormat::Rgba8Unorm,
            egui_wgpu::RendererOptions::default(),
        );
        Self {
            ctx,
            state,
            renderer,
            jobs: Vec::new(),
            descriptor: None,
            due: None,
            to_free: Vec::new(),
        }
    }

    /// Hands a window event to egui; true when egui used it (the app then ignores it).
    pub(super) fn on_window_event(&mut self, window: &Window, event: &WindowEvent) -> bool {
        let response = self.state.on_window_event(window, event);
        // egui asks to repaint on every redraw request, and the window asks for one every
        // frame: its own wishes come through `repaint_delay` instead.
        if response.repaint && !matches!(event, WindowEvent::RedrawRequested) {
            self.due = None;
        }
        response.consumed
    }

    /// True when the panel must be laid out again for a `size` (pixels) screen.
    pub(super) fn is_due(&self, now: Instant, size: [u32; 2]) -> bool {
        self.due.is_none_or(|due| now >= due)
            || self.descriptor.as_ref().is_none_or(|d| d.size_in_pixels != size)
    }

    /// Lays the panel out with `ui`, tessellates it and records its uploads into `encoder`.
    pub(super) fn update(
        &mut self,
        window: &Window,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        size: [u32; 2],
        ui: impl FnMut(&mut egui::Ui),
    ) {
        let now = Instant::now();
        for id in self.to_free.drain(..) {
            self.renderer.free_texture(&id);
        }
        let raw_input = self.state.take_egui_input(window);
        let output = self.ctx.run_ui(raw_input, ui);
        self.state.handle_platform_output(window, output.platform_output);
        let wait = output
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map_or(HUD_INTERVAL, |v| v.repaint_delay.min(HUD_INTERVAL));
        self.due = Some(now + wait);
        for (id, deltas) in &output.textures_delta.set {
            for delta in deltas {
                self.renderer.update_texture(&context.device, &context.queue, *id, delta);
            }
        }
        self.to_free = output.textures_delta.free.iter().copied().collect();
        let descriptor = egui_wgpu::ScreenDescriptor {
            size_in_pixels: size,
            pixels_per_point: output.pixels_per_point,
        };
        self.jobs = self.ctx.tessellate(output.shapes, output.pixels_per_point);
        self.renderer.update_buffers(
            &context.device,
            &context.queue,
            encoder,
            &self.jobs,
            &descriptor,
        );
        self.descriptor = Some(descriptor);
    }

    /// Draws the last layout over `target`.
    pub(super) fn draw(&self, encoder: &mut wgpu::CommandEncoder, target: &wgpu::TextureView) {
        let Some(descriptor) = &self.descriptor else { return };
        let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("egui"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations { load: wgpu::LoadOp::Load, store: wgpu::StoreOp::Store },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        let mut pass = pass.forget_lifetime();
        self.renderer.render(&mut pass, &self.jobs, descriptor);
    }
}
