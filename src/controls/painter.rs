//! Draws the controls with wgpu, laid out again only when something may have changed: an input
//! event, egui asking for it (an animation), the screen's size, or the HUD's refresh interval.
//! In between, the last layout is drawn as it is, so a frame with nothing new on the panel costs
//! one render pass instead of a layout, a tessellation and buffer uploads.

use std::time::Duration;

use web_time::Instant;

use crate::render::{RenderContext, present::fit_rect_within};

/// How often the HUD's numbers (rates, latencies, the banner) are refreshed without input.
const HUD_INTERVAL: Duration = Duration::from_millis(250);

/// The egui context and its wgpu renderer, platform-free: input comes as `egui::RawInput`.
pub struct ControlsPainter {
    ctx: egui::Context,
    renderer: egui_wgpu::Renderer,
    /// The last layout, drawn until the next one.
    jobs: Vec<egui::epaint::ClippedPrimitive>,
    descriptor: Option<egui_wgpu::ScreenDescriptor>,
    /// When the layout is made again at the latest; `None`: at the next frame.
    due: Option<Instant>,
    /// Textures the last layout no longer uses, freed once it has been drawn.
    to_free: Vec<egui::TextureId>,
    /// The part of the screen the panels leave to the picture, `[x0, y0, x1, y1]` in fractions
    /// of the screen.
    free: [f32; 4],
}

impl ControlsPainter {
    /// A painter drawing onto targets of `format`.
    pub fn new(context: &RenderContext, format: wgpu::TextureFormat) -> Self {
        let renderer = egui_wgpu::Renderer::new(
            &context.device,
            format,
            egui_wgpu::RendererOptions::default(),
        );
        Self {
            ctx: egui::Context::default(),
            renderer,
            jobs: Vec::new(),
            descriptor: None,
            due: None,
            to_free: Vec::new(),
            free: [0.0, 0.0, 1.0, 1.0],
        }
    }

    /// The egui context (for the platform's input translation).
    pub fn egui(&self) -> &egui::Context {
        &self.ctx
    }

    /// Input arrived: the panel is laid out again at the next frame.
    pub fn invalidate(&mut self) {
        self.due = None;
    }

    /// True when the panel must be laid out again for a `size` (pixels) screen.
    pub fn is_due(&self, now: Instant, size: [u32; 2]) -> bool {
        self.due.is_none_or(|due| now >= due)
            || self.descriptor.as_ref().is_none_or(|d| d.size_in_pixels != size)
    }

    /// Where a `picture_size` picture goes: letterboxed into the area the panels leave free,
    /// `[x0, y0, x1, y1]` in fractions of a `screen_size` screen.
    pub fn picture_rect(&self, picture_size: (u32, u32), screen_size: (u32, u32)) -> [f32; 4] {
        fit_rect_within(picture_size, screen_size, self.free)
    }

    /// Lays the panel out with `ui` for `input`, tessellates it and records its uploads into
    /// `encoder`; returns what egui asks of the platform (cursor, clipboard, links).
    pub fn update(
        &mut self,
        input: egui::RawInput,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        size: [u32; 2],
        mut ui: impl FnMut(&mut egui::Ui),
    ) -> egui::PlatformOutput {
        let now = Instant::now();
        for id in self.to_free.drain(..) {
            self.renderer.free_texture(&id);
        }
        let mut free = egui::Rect::NOTHING;
        let mut output = self.ctx.run_ui(input, |root| {
            ui(root);
            free = root.available_rect_before_wrap();
        });
        let screen = self.ctx.viewport_rect();
        if screen.width() > 0.0 && screen.height() > 0.0 && free.is_positive() {
            self.free = [
                (free.min.x - screen.min.x) / screen.width(),
                (free.min.y - screen.min.y) / screen.height(),
                (free.max.x - screen.min.x) / screen.width(),
                (free.max.y - screen.min.y) / screen.height(),
            ]
            .map(|f| f.clamp(0.0, 1.0));
        }
        let wait = output
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map_or(HUD_INTERVAL, |v| v.repaint_delay.min(HUD_INTERVAL));
        self.due = Some(now + wait);
        let mut textures = std::mem::take(&mut output.textures_delta);
        for (id, deltas) in &textures.set {
            for delta in deltas {
                self.renderer.update_texture(&context.device, &context.queue, *id, delta);
            }
        }
        self.to_free = textures.free.drain().collect();
        // Applied: what is left is only the record of it.
        textures.clear();
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
        output.platform_output
    }

    /// Draws the last layout over `target`.
    pub fn draw(&self, encoder: &mut wgpu::CommandEncoder, target: &wgpu::TextureView) {
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
