//! The controls and the HUD (egui), the same on every platform. Layout only: state changes are
//! returned as `Actions` or written to `Settings`. Everything is a button, slider or tap, so
//! touch works as a mouse does; keys are shortcuts only.

use std::time::Duration;

use crate::{
    effects::{Effect, Layer, Pattern, RegionSelector, preset::Preset},
    stages::{StageKind, StageStats},
};

use super::Settings;

/// What the HUD shows this frame.
pub struct HudData {
    /// Display frames per second.
    pub display_fps: f32,
    /// Per model stage: which and its counters.
    pub stages: Vec<(StageKind, StageStats)>,
    /// Per model stage: its models and the execution provider each really runs on.
    pub providers: Vec<(StageKind, String)>,
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
    /// Which restyle engine runs and why, when the preset restyles.
    pub restyle_engine: Option<String>,
    /// What the running preset does.
    pub preset_description: String,
    /// Per model on an inference server: its last run's round trip and bytes.
    pub remote: Vec<(String, RemoteRow)>,
    /// The platform's keyboard shortcuts, shown under the controls.
    pub key_hints: &'static str,
    /// The segmentation models the panel offers (ids).
    pub segmentation_models: Vec<String>,
    /// Where the platform lets the user pick a picture as the style: the style in use.
    pub style_picker: Option<String>,
    /// A diffusion model the restyle layers would use, offered for download.
    pub model_offer: Option<ModelOffer>,
    /// Where the platform offers hybrid mode: the inference server the diffusion model runs
    /// on now (empty: this device).
    pub inference_server: Option<String>,
}

/// A model that is not on this device, offered for download on the user's request.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOffer {
    /// The model's id.
    pub name: String,
    /// How far its download has come.
    pub state: OfferState,
}

/// How far an offered download has come.
#[derive(Debug, Clone, PartialEq)]
pub enum OfferState {
    /// Nothing asked: nothing has gone over the network.
    NotAsked,
    /// Its size is being asked of its server.
    Sizing,
    /// Its size is known; the download waits for the user.
    Sized {
        /// Bytes of the files to download.
        bytes: u64,
        /// False when some server did not say its file's size (`bytes` is then a lower bound).
        known: bool,
        /// Bytes an earlier attempt left, which the download resumes from.
        resumable: u64,
        /// Some file's sha256 is not pinned by the app; it is pinned on this device.
        unverified: bool,
    },
    /// Downloading: bytes on the device so far, of `total` (0: unknown).
    Running {
        /// Bytes received, resumed parts included.
        received: u64,
        /// Bytes in all.
        total: u64,
    },
    /// Paused or failed, with why; a new start resumes.
    Stopped(String),
}

/// What the user pressed on an offered download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadAsk {
    /// Ask the server how large it is.
    Size,
    /// Download it (resuming what an earlier attempt left).
    Start,
    /// Stop after the current read, keeping what arrived.
    Pause,
    /// Not now.
    Dismiss,
}

/// One remote model's last run (a keyframe for the restyler: all its calls together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteRow {
    /// Round trip of its last request, in milliseconds.
    pub round_trip_ms: f32,
    /// Request bytes of the last run.
    pub sent: u64,
    /// Response bytes of the last run.
    pub received: u64,
}

/// Buttons pressed and edits made this frame.
#[derive(Debug, Default)]
pub struct Actions {
    /// A layer's parameters changed.
    pub layers_changed: bool,
    /// Start or stop recording.
    pub record: bool,
    /// Save a still.
    pub snapshot: bool,
    /// Apply the prompt in `Settings::restyle_prompt`.
    pub restyle: bool,
    /// Open the platform's picture chooser for a style picture.
    pub pick_style_picture: bool,
    /// What the user pressed on the offered model download.
    pub download: Option<DownloadAsk>,
    /// Use this inference server for hybrid mode (empty: this device only).
    pub inference_server: Option<String>,
    /// Enter or leave fullscreen.
    pub fullscreen: bool,
    /// The visible part of the restyle prompt's field, where the panel shows one (a page
    /// takes typing there through a text element of its own).
    pub prompt_field: Option<egui::Rect>,
}

/// The side panel's width in points for a screen `screen_width` points wide: fixed, a quarter
/// of the screen within 220-290, so the picture beside it never moves or shrinks when rows
/// appear (sized to its content, it widened from 220 to 286 points when the models' rows did).
fn side_panel_width(screen_width: f32) -> f32 {
    (screen_width * 0.25).clamp(220.0, 290.0)
}

/// Draws the banner, the controls and the HUD. The controls sit on the left of a landscape
/// screen and at the bottom of a portrait one, so the picture keeps the larger free area.
pub fn draw(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    hud: &HudData,
    layers: &mut [Layer],
    picked_layer: &mut usize,
    actions: &mut Actions,
) {
    let ctx = ui.ctx().clone();
    let portrait = ui.available_height() > ui.available_width();
    egui::Panel::top("banner").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            let toggle = if settings.show_panel { "Hide controls" } else { "Controls" };
            if ui.button(toggle).clicked() {
                settings.show_panel = !settings.show_panel;
            }
            ui.label(&hud.banner);
            if let Some(message) = &hud.message {
                ui.separator();
                ui.colored_label(egui::Color32::from_rgb(250, 200, 80), message);
            }
        });
    });
    if settings.show_panel {
        let panel = if portrait {
            let height = ui.available_height();
            egui::Panel::bottom("controls").default_size(height * 0.4).max_size(height * 0.5)
        } else {
            egui::Panel::left("controls").exact_size(side_panel_width(ui.available_width()))
        };
        panel.resizable(false).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                controls_ui(ui, settings, hud, actions);
                if layers.iter().any(|l| matches!(l.effect, Effect::Restyle { .. })) {
                    restyle_ui(ui, settings, hud, actions);
                }
                if let Some(style) = &hud.style_picker
                    && layers.iter().any(|l| l.effect.needs_style())
                {
                    ui.separator();
                    ui.label(format!("Style: {style}"));
                    if ui.button("Style from a picture…").clicked() {
                        actions.pick_style_picture = true;
                    }
                }
                layers_ui(ui, hud, layers, picked_layer, actions);
                if layers.iter().any(|l| l.region.needs_segmentation()) {
                    ui.separator();
                    slider(ui, &mut settings.region_confidence, 0.5..=0.9, "region confidence");
                    ui.small("higher: edges the model is unsure of stay unpainted");
                    segmentation_model_ui(ui, settings, hud);
                }
            });
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
    // Parsed when the preset was chosen, not per frame.
    ui.small(&hud.preset_description);
    ui.separator();
    let record_label = match hud.recording {
        Some((elapsed, _)) => {
            format!("Stop recording ({:02}:{:02})", elapsed.as_secs() / 60, elapsed.as_secs() % 60)
        }
        None => "Record".to_owned(),
    };
    ui.horizontal_wrapped(|ui| {
        actions.record |= ui.button(record_label).clicked();
        actions.snapshot |= ui.button("Snapshot").clicked();
        actions.fullscreen |= ui.button("Fullscreen").clicked();
    });
    ui.checkbox(&mut settings.show_hud, "HUD");
    ui.separator();
    ui.small(hud.key_hints);
}

/// The segmentation model region layers read: the preset's own, or one the user picks.
fn segmentation_model_ui(ui: &mut egui::Ui, settings: &mut Settings, hud: &HudData) {
    if hud.segmentation_models.len() < 2 {
        return;
    }
    let shown = settings.segmentation_model.as_deref().unwrap_or("the preset's");
    egui::ComboBox::from_label("segmentation model").selected_text(shown).show_ui(ui, |ui| {
        ui.selectable_value(&mut settings.segmentation_model, None, "the preset's");
        for id in &hud.segmentation_models {
            ui.selectable_value(&mut settings.segmentation_model, Some(id.clone()), id);
        }
    });
}

fn slider(
    ui: &mut egui::Ui,
    value: &mut f32,
    range: std::ops::RangeInclusive<f32>,
    label: &str,
) -> bool {
    ui.add(egui::Slider::new(value, range).text(label)).changed()
}

fn colour(ui: &mut egui::Ui, value: &mut crate::effects::Colour, label: &str) -> bool {
    ui.horizontal(|ui| {
        let changed = egui::color_picker::color_edit_button_rgb(ui, &mut value.0).changed();
        ui.label(label);
        changed
    })
    .inner
}

/// Sliders and colours of every layer, and which layer a click on the picture re-targets.
fn restyle_ui(ui: &mut egui::Ui, settings: &mut Settings, hud: &HudData, actions: &mut Actions) {
    ui.separator();
    ui.label("Restyle prompt");
    let edit = ui.add(
        egui::TextEdit::singleline(&mut settings.restyle_prompt)
            .hint_text("mid-century modern living room, teal walls"),
    );
    if edit.gained_focus()
        && let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), edit.id)
    {
        // A tap or click into the prompt selects all of it, so what is typed replaces it (a
        // phone has no quick way to select); a second tap places the cursor.
        let all = egui::text_selection::CCursorRange::select_all_str(&settings.restyle_prompt);
        state.cursor.set_char_range(Some(all));
        state.store(ui.ctx(), edit.id);
    }
    let visible = edit.rect.intersect(ui.clip_rect());
    actions.prompt_field = visible.is_positive().then_some(visible);
    let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    if ui.button("Restyle").clicked() || entered {
        actions.restyle = true;
    }
    if let Some(engine) = &hud.restyle_engine {
        ui.small(format!("Engine: {engine}"));
    }
    if let Some(offer) = &hud.model_offer {
        model_offer_ui(ui, offer, actions);
    }
    if let Some(in_use) = &hud.inference_server {
        hybrid_ui(ui, in_use, actions);
    }
}

/// Hybrid mode: the diffusion model on an inference server the user names, the camera and
/// everything else on the device. The URL being typed is the panel's own until "Use server".
fn hybrid_ui(ui: &mut egui::Ui, in_use: &str, actions: &mut Actions) {
    egui::CollapsingHeader::new("Hybrid mode").default_open(!in_use.is_empty()).show(ui, |ui| {
        ui.small(match in_use {
            "" => "Everything runs on this device.".to_owned(),
            url => format!(
                "The diffusion model runs on {url}; the camera and the other models stay here."
            ),
        });
        let id = ui.scope_id().with("server being typed");
        let mut draft =
            ui.data_mut(|d| d.get_temp::<String>(id)).unwrap_or_else(|| in_use.to_owned());
        ui.add(egui::TextEdit::singleline(&mut draft).hint_text("http://gpu-box:8000"));
        ui.horizontal(|ui| {
            if ui.button("Use server").clicked() {
                actions.inference_server = Some(draft.trim().to_owned());
            }
            if ui.button("This device only").clicked() {
                draft.clear();
                actions.inference_server = Some(String::new());
            }
        });
        ui.data_mut(|d| d.insert_temp(id, draft));
    });
}

/// The offered diffusion model: its size first, then its download with a progress bar.
fn model_offer_ui(ui: &mut egui::Ui, offer: &ModelOffer, actions: &mut Actions) {
    let name = &offer.name;
    let mut ask = |ui: &mut egui::Ui, label: &str, what: DownloadAsk| {
        if ui.button(label).clicked() {
            actions.download = Some(what);
        }
    };
    match &offer.state {
        OfferState::NotAsked => {
            ui.small(format!("{name} restyles by the prompt itself; it is not on this device."));
            ask(ui, &format!("Download {name}…"), DownloadAsk::Size);
        }
        OfferState::Sizing => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.small(format!("asking {name}'s server for its size…"));
            });
        }
        OfferState::Sized { bytes, known, resumable, unverified } => {
            let at_least = if *known { "" } else { "at least " };
            let mut text = format!("{name}: {at_least}{} to download", human_bytes(*bytes));
            if *resumable > 0 {
                text += &format!(" ({} already here)", human_bytes(*resumable));
            }
            ui.label(text);
            if *unverified {
                ui.small("Its sha256 is not pinned by dreamlens: it is pinned on this device when the download ends.");
            }
            ui.horizontal(|ui| {
                ask(ui, "Download", DownloadAsk::Start);
                ask(ui, "Not now", DownloadAsk::Dismiss);
            });
        }
        OfferState::Running { received, total } => {
            let fraction = if *total > 0 { *received as f32 / *total as f32 } else { 0.0 };
            let shown = match total {
                0 => human_bytes(*received),
                total => format!("{} of {}", human_bytes(*received), human_bytes(*total)),
            };
            ui.add(egui::ProgressBar::new(fraction.min(1.0)).text(format!("{name}: {shown}")));
            ask(ui, "Pause", DownloadAsk::Pause);
            // The bar moves without input.
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(250));
        }
        OfferState::Stopped(reason) => {
            ui.colored_label(egui::Color32::from_rgb(250, 200, 80), reason);
            // Sized again first: the user sees what is left before more bytes flow.
            ui.horizontal(|ui| {
                ask(ui, "Continue…", DownloadAsk::Size);
                ask(ui, "Not now", DownloadAsk::Dismiss);
            });
        }
    }
}

/// Where a restyle or style layer acts: everything, or one of the common regions.
fn region_choice(ui: &mut egui::Ui, index: usize, region: &mut RegionSelector) -> bool {
    const CHOICES: [(&str, Option<&str>); 4] = [
        ("everything", None),
        ("walls", Some("wall")),
        ("floor", Some("floor")),
        ("furniture", Some("furniture")),
    ];
    let current = match region {
        RegionSelector::Everything => "everything".to_owned(),
        RegionSelector::Named(names) => names.join(", "),
    };
    let mut changed = false;
    egui::ComboBox::from_id_salt(("region", index)).selected_text(current).show_ui(ui, |ui| {
        for (label, name) in CHOICES {
            let choice = match name {
                None => RegionSelector::Everything,
                Some(name) => RegionSelector::Named(vec![name.to_owned()]),
            };
            if ui.selectable_label(*region == choice, label).clicked() && *region != choice {
                *region = choice;
                changed = true;
            }
        }
    });
    changed
}

fn pattern_choice(ui: &mut egui::Ui, index: usize, pattern: &mut Pattern) -> bool {
    let mut changed = false;
    egui::ComboBox::from_id_salt(("pattern", index)).selected_text(pattern.name()).show_ui(
        ui,
        |ui| {
            for choice in Pattern::ALL {
                changed |= ui.selectable_value(pattern, choice, choice.name()).changed();
            }
        },
    );
    changed
}

fn layers_ui(
    ui: &mut egui::Ui,
    hud: &HudData,
    layers: &mut [Layer],
    picked_layer: &mut usize,
    actions: &mut Actions,
) {
    ui.separator();
    ui.label("Layers");
    let mut changed = false;
    for (index, layer) in layers.iter_mut().enumerate() {
        let name = layer.effect.name();
        let region = match &layer.region {
            RegionSelector::Everything => "everything".to_owned(),
            RegionSelector::Named(names) => names.join(", "),
        };
        egui::CollapsingHeader::new(format!("{}. {name} on {region}", index + 1))
            .id_salt(index)
            .default_open(index == 0)
            .show(ui, |ui| {
                if layer.effect.needs_style() {
                    // Regions need the segmentation model, which runs only for presets that
                    // use it (it costs a core on small machines).
                    let segmented =
                        hud.stages.iter().any(|(kind, _)| *kind == StageKind::Segmentation);
                    ui.add_enabled_ui(segmented, |ui| {
                        changed |= region_choice(ui, index, &mut layer.region);
                    })
                    .response
                    .on_disabled_hover_text(
                        "This preset runs no segmentation: choose restyle-walls to restyle by region",
                    );
                }
                if matches!(layer.region, RegionSelector::Named(_)) {
                    ui.radio_value(picked_layer, index, "tap the picture to pick its region");
                }
                changed |= match &mut layer.effect {
                    Effect::Repaint { colour: c, strength } => {
                        colour(ui, c, "paint") | slider(ui, strength, 0.0..=1.0, "strength")
                    }
                    Effect::Texture { pattern, colour: c, accent, scale, strength } => {
                        pattern_choice(ui, index, pattern)
                            | colour(ui, c, "colour")
                            | colour(ui, accent, "accent")
                            | slider(ui, scale, 1.0..=40.0, "scale")
                            | slider(ui, strength, 0.0..=1.0, "strength")
                    }
                    Effect::BackgroundBlur { radius, threshold, feather } => {
                        slider(ui, radius, 0.0..=64.0, "radius")
                            | slider(ui, threshold, 0.0..=1.0, "threshold")
                            | slider(ui, feather, 0.0..=1.0, "feather")
                    }
                    Effect::BackgroundReplace { colour: c, accent, threshold, feather } => {
                        colour(ui, c, "top")
                            | colour(ui, accent, "bottom")
                            | slider(ui, threshold, 0.0..=1.0, "threshold")
                            | slider(ui, feather, 0.0..=1.0, "feather")
                    }
                    Effect::DepthOfField { focus_point, strength, .. } => {
                        slider(ui, &mut focus_point[0], 0.0..=1.0, "focus x")
                            | slider(ui, &mut focus_point[1], 0.0..=1.0, "focus y")
                            | slider(ui, strength, 0.0..=48.0, "strength")
                    }
                    Effect::DepthFog { colour: c, density } => {
                        colour(ui, c, "fog") | slider(ui, density, 0.0..=1.0, "density")
                    }
                    Effect::Style { strength, .. }
                    | Effect::Restyle { strength, .. }
                    | Effect::Lut { strength, .. } => slider(ui, strength, 0.0..=1.0, "strength"),
                    Effect::Toon { levels, edges } => {
                        slider(ui, levels, 2.0..=32.0, "levels")
                            | slider(ui, edges, 0.0..=1.0, "edges")
                    }
                    Effect::Grain { amount } | Effect::Vignette { amount } => {
                        slider(ui, amount, 0.0..=1.0, "amount")
                    }
                };
            });
    }
    actions.layers_changed |= changed;
}

fn hud_ui(ui: &mut egui::Ui, hud: &HudData) {
    ui.label(format!("display {:.1} fps", hud.display_fps));
    ui.small(&hud.adapter);
    for (kind, stats) in &hud.stages {
        let provider =
            hud.providers.iter().find(|(k, _)| k == kind).map_or("?", |(_, p)| p.as_str());
        ui.label(format!(
            "{}: {:.1}/s, {:.0} ms, {provider}, {} skipped",
            kind.name(),
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
    for (model, row) in &hud.remote {
        ui.label(format!(
            "{model} (remote): {:.0} ms round trip, {} sent, {} received per run",
            row.round_trip_ms,
            human_bytes(row.sent),
            human_bytes(row.received)
        ));
    }
    if let Some((_, dropped)) = hud.recording {
        ui.label(format!("recording: {dropped} frames dropped"));
    }
    for layer in &hud.dropped_layers {
        ui.colored_label(egui::Color32::LIGHT_RED, layer);
    }
}

/// `2.6 GB`, `1.2 MB`, `640 kB`, `12 B`.
fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.0} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hud(state: OfferState) -> HudData {
        HudData {
            display_fps: 30.0,
            stages: Vec::new(),
            providers: Vec::new(),
            dropped_layers: Vec::new(),
            banner: String::new(),
            recording: None,
            message: None,
            adapter: String::new(),
            restyle_engine: Some("style transfer".into()),
            preset_description: String::new(),
            remote: Vec::new(),
            key_hints: "",
            segmentation_models: Vec::new(),
            style_picker: None,
            model_offer: Some(ModelOffer { name: "sd-turbo".into(), state }),
            inference_server: Some(String::new()),
        }
    }

    /// Every text drawn, with where it was drawn.
    fn texts(shapes: impl IntoIterator<Item = egui::Shape>, out: &mut Vec<(String, egui::Rect)>) {
        for shape in shapes {
            match shape {
                egui::Shape::Text(text) => {
                    let rect = text.galley.rect.translate(text.pos.to_vec2());
                    out.push((text.galley.text().to_owned(), rect));
                }
                egui::Shape::Vec(inner) => texts(inner, out),
                _ => {}
            }
        }
    }

    /// The `restyle` preset's panel laid out once with `events`: what it asked for, and its
    /// texts.
    fn frame(
        ctx: &egui::Context,
        hud: &HudData,
        events: Vec<egui::Event>,
        seconds: f64,
    ) -> (Actions, Vec<(String, egui::Rect)>) {
        let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 720.0));
        let time = Some(ctx.input(|i| i.time) + seconds);
        let input =
            egui::RawInput { screen_rect: Some(screen), events, time, ..Default::default() };
        let mut settings = Settings::default();
        let mut layers = Preset::load("restyle").expect("built in").layers;
        let mut actions = Actions::default();
        let output = ctx.run_ui(input, |ui| {
            draw(ui, &mut settings, hud, &mut layers, &mut 0, &mut actions);
        });
        let mut drawn = Vec::new();
        texts(output.shapes.into_iter().map(|clipped| clipped.shape), &mut drawn);
        (actions, drawn)
    }

    /// Presses the button labelled `label` as a finger or mouse does, in two frames.
    fn press(hud: &HudData, label: &str) -> (Actions, Vec<String>) {
        press_on(&egui::Context::default(), hud, label)
    }

    fn press_on(ctx: &egui::Context, hud: &HudData, label: &str) -> (Actions, Vec<String>) {
        // A second after the last frame: animations (a header opening) have ended.
        let (_, drawn) = frame(ctx, hud, Vec::new(), 1.0);
        let shown: Vec<String> = drawn.iter().map(|(text, _)| text.clone()).collect();
        let Some((_, rect)) = drawn.iter().find(|(text, _)| text == label) else {
            panic!("no {label:?} on the panel: {shown:?}");
        };
        let (pos, modifiers) = (rect.center(), egui::Modifiers::NONE);
        let button = |pressed| egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers,
        };
        frame(ctx, hud, vec![egui::Event::PointerMoved(pos), button(true)], 0.05);
        let (actions, _) = frame(ctx, hud, vec![button(false)], 0.05);
        (actions, shown)
    }

    #[test]
    fn an_offered_model_shows_its_size_before_its_download_and_its_progress_during_it() {
        let (Actions { download: ask, .. }, _) =
            press(&hud(OfferState::NotAsked), "Download sd-turbo…");
        assert_eq!(ask, Some(DownloadAsk::Size));

        let sized = OfferState::Sized {
            bytes: 2_600_000_000,
            known: true,
            resumable: 400_000_000,
            unverified: true,
        };
        let (Actions { download: ask, .. }, shown) = press(&hud(sized), "Download");
        assert_eq!(ask, Some(DownloadAsk::Start));
        let size = "sd-turbo: 2.6 GB to download (400.0 MB already here)";
        assert!(shown.iter().any(|t| t == size), "{shown:?}");
        assert!(shown.iter().any(|t| t.contains("not pinned")), "{shown:?}");

        let running = OfferState::Running { received: 1_300_000_000, total: 2_600_000_000 };
        let (Actions { download: ask, .. }, shown) = press(&hud(running), "Pause");
        assert_eq!(ask, Some(DownloadAsk::Pause));
        assert!(shown.iter().any(|t| t == "sd-turbo: 1.3 GB of 2.6 GB"), "{shown:?}");

        let (Actions { download: ask, .. }, _) =
            press(&hud(OfferState::Stopped("paused".into())), "Continue…");
        assert_eq!(ask, Some(DownloadAsk::Size));
    }

    #[test]
    fn hybrid_mode_is_a_setting_on_the_panel() {
        let (ctx, hud) = (egui::Context::default(), hud(OfferState::NotAsked));
        press_on(&ctx, &hud, "Hybrid mode");
        let (actions, shown) = press_on(&ctx, &hud, "Use server");
        assert_eq!(actions.inference_server.as_deref(), Some(""));
        assert!(actions.download.is_none());
        assert!(shown.iter().any(|t| t == "Everything runs on this device."), "{shown:?}");
    }
}
