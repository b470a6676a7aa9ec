//! The controls and the HUD (egui). Layout only: state changes are returned as `Actions` or
//! written to `Settings`.

use std::time::Duration;

use crate::{effects::preset::Preset, stages::StageStats};

use super::Settings;

/// What the HUD shows this frame.
pub struct HudData {
    /// Display frames per second.
    pub display_fps: f32,
    /// Per model stage: name and counters.
    pub stages: Vec<(String, StageStats)>,
    /// Per model: id and the execution provider it really runs on.
    pub providers: Vec<(String, String)>,
    /// Layers turned off, with why.
    pub dropped_layers: Vec<String>,
    /// What the picture comes from.
    pub banner: String,
    /// Recording: elapsed time and dropped frames.
    pub recording: Option<(Duration, u64)>,
    /// A passing notice.
    pub message: Option<String>,
    /// The GPU adapter.
    pub adapter: String,
}

/// Buttons pressed this frame.
#[derive(Debug, Default)]
pub struct Actions {
    /// Start or stop recording.
    pub record: bool,
    /// Save a still.
    pub snapshot: bool,
}

/// Draws the side panel and the HUD.
pub fn draw(ui: &mut egui::Ui, settings: &mut Settings, hud: &HudData, actions: &mut Actions) {
    let ctx = ui.ctx().clone();
    egui::Panel::top("banner").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.label(&hud.banner);
            if let Some(message) = &hud.message {
                ui.separator();
                ui.colored_label(egui::Color32::from_rgb(250, 200, 80), message);
            }
        });
    });
    if settings.show_panel {
        egui::Panel::left("controls").resizable(false).default_size(220.0).show(ui, |ui| {
            controls_ui(ui, settings, hud, actions);
        });
    }
    if settings.show_hud {
        egui::Window::new("HUD")
            .anchor(egui::Align2::RIGHT_TOP, [-8.0, 40.0])
            .resizable(false)
            .collapsible(true)
            .show(&ctx, |ui| {
                hud_ui(ui, hud);
            });
    }
}

fn controls_ui(ui: &mut egui::Ui, settings: &mut Settings, hud: &HudData, actions: &mut Actions) {
    ui.heading("dreamlens");
    ui.label("Preset");
    egui::ComboBox::from_id_salt("preset").selected_text(&settings.preset).show_ui(ui, |ui| {
        for name in Preset::builtin_names() {
            ui.selectable_value(&mut settings.preset, name.to_owned(), name);
        }
    });
    if let Ok(preset) = Preset::load(&settings.preset) {
        ui.small(preset.description);
    }
    ui.separator();
    let record_label = match hud.recording {
        Some((elapsed, _)) => {
            format!("Stop recording ({:02}:{:02})", elapsed.as_secs() / 60, elapsed.as_secs() % 60)
        }
        None => "Record (space)".to_owned(),
    };
    if ui.button(record_label).clicked() {
        actions.record = true;
    }
    if ui.button("Snapshot (s)").clicked() {
        actions.snapshot = true;
    }
    ui.checkbox(&mut settings.show_hud, "HUD (h)");
    ui.separator();
    ui.small("f: fullscreen, Esc: quit");
}

fn hud_ui(ui: &mut egui::Ui, hud: &HudData) {
    ui.label(format!("display {:.1} fps", hud.display_fps));
    ui.small(&hud.adapter);
    for (name, stats) in &hud.stages {
        let provider = hud
            .providers
            .iter()
            .find(|(id, _)| stage_model(name, id))
            .map_or("?", |(_, p)| p.as_str());
        ui.label(format!(
            "{name}: {:.1}/s, {:.0} ms, on {provider}, {} skipped",
            stats.rate_hz,
            stats.latency.as_secs_f32() * 1e3,
            stats.skipped
        ));
        if let Some(error) = &stats.error {
            ui.colored_label(egui::Color32::LIGHT_RED, error);
        }
    }
    if hud.stages.is_empty() {
        ui.label("no models needed by this preset");
    }
    if let Some((_, dropped)) = hud.recording {
        ui.label(format!("recording: {dropped} frames dropped"));
    }
    for layer in &hud.dropped_layers {
        ui.colored_label(egui::Color32::LIGHT_RED, layer);
    }
}

/// Pairs a stage with its model id in the provider list.
fn stage_model(stage: &str, model: &str) -> bool {
    match stage {
        "segmentation" => model.contains("ade20k") || model.contains("segformer"),
        "person" => model.contains("selfie") || model.contains("sinet"),
        "depth" => model.contains("depth"),
        _ => model.contains("style"),
    }
}
