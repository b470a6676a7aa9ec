//! The controls and the HUD over the picture, shared by the desktop window, the phone and the
//! page: [`panel`] lays them out with egui, [`ControlsPainter`] draws them with wgpu. Each
//! platform only turns its own input events into `egui::RawInput` (winit natively, pointer and
//! key events in the browser) and places the picture in the area the panels leave free.

mod message_picture;
mod painter;
pub mod panel;

use serde::{Deserialize, Serialize};

pub use message_picture::message_picture;
pub use painter::ControlsPainter;
pub use panel::{Actions, HudData, RemoteRow};

/// What the user chose on the controls; the desktop keeps it across restarts (`app::settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Preset name or file.
    pub preset: String,
    /// Show the HUD.
    pub show_hud: bool,
    /// Show the control panel.
    pub show_panel: bool,
    /// The last restyle prompt applied.
    pub restyle_prompt: String,
    /// The share of the model's probability a pixel needs to belong to a region (the
    /// compositor's `region_threshold`): higher leaves more of an uncertain edge unpainted.
    pub region_confidence: f32,
    /// The segmentation model region layers read, chosen on the panel or by a flag; `None`:
    /// the preset's, else the default.
    pub segmentation_model: Option<String>,
    /// Hybrid mode: the inference server the diffusion model runs on (`http(s)://host:port`);
    /// empty keeps everything on the device.
    pub inference_server: String,
}

impl Settings {
    /// The phone's back gesture: it closes the panel when the panel is open (true), and
    /// otherwise is the user leaving (false).
    pub fn back(&mut self) -> bool {
        std::mem::replace(&mut self.show_panel, false)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            preset: "wall-paint".into(),
            show_hud: true,
            show_panel: true,
            restyle_prompt: String::new(),
            region_confidence: crate::render::AnalysisFilter::default().region_threshold,
            segmentation_model: None,
            inference_server: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_closes_the_panel_before_it_leaves() {
        let mut settings = Settings::default();
        assert!(settings.show_panel);
        assert!(settings.back(), "the first back closes the open panel");
        assert!(!settings.show_panel);
        assert!(!settings.back(), "with the panel closed, back leaves");
    }
}
