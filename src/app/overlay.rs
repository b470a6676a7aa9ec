//! The window's controls: winit's events turned into egui input for the shared
//! [`ControlsPainter`].

use web_time::Instant;
use winit::{event::WindowEvent, window::Window};

use crate::{controls::ControlsPainter, render::RenderContext};

pub(super) struct Overlay {
    state: egui_winit::State,
    pub(super) painter: ControlsPainter,
}

impl Overlay {
    pub(super) fn new(context: &RenderContext, window: &Window) -> Self {
        let painter = ControlsPainter::new(context, wgpu::TextureFormat::Rgba8Unorm);
        let state = egui_winit::State::new(
            painter.egui().clone(),
            egui::ViewportId::ROOT,
            window,
            Some(window.scale_factor() as f32),
            None,
            Some(context.device.limits().max_texture_dimension_2d as usize),
        );
        Self { state, painter }
    }

    /// Hands a window event to egui; true when egui used it (the app then ignores it).
    pub(super) fn on_window_event(&mut self, window: &Window, event: &WindowEvent) -> bool {
        let response = self.state.on_window_event(window, event);
        // egui asks to repaint on every redraw request, and the window asks for one every
        // frame: its own wishes come through `repaint_delay` instead.
        if response.repaint && !matches!(event, WindowEvent::RedrawRequested) {
            self.painter.invalidate();
        }
        response.consumed
    }

    /// True when the panel must be laid out again for a `size` (pixels) screen.
    pub(super) fn is_due(&self, now: Instant, size: [u32; 2]) -> bool {
        self.painter.is_due(now, size)
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
        let input = self.state.take_egui_input(window);
        let output = self.painter.update(input, context, encoder, size, ui);
        self.state.handle_platform_output(window, output);
    }
}
