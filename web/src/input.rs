//! The page's pointer events and typing (`glue.js`'s queues) as egui input: mouse, pen and
//! touch all arrive as pointer events, so a finger presses the panel's buttons and drags its
//! sliders as a mouse does; text comes from the typing agent that stands in for a focused field.

/// Kinds in the queue's `[kind, x, y]` triples (`glue.js`, `listenPointer`).
const MOVED: f64 = 0.0;
const PRESSED: f64 = 1.0;
const RELEASED: f64 = 2.0;
const GONE: f64 = 3.0;
const WHEEL: f64 = 4.0;

/// egui's input for one layout of a `screen` (device pixels) canvas with `pixels_per_point`
/// device pixels per CSS pixel (egui's points are the page's CSS pixels): the pointer `queue`,
/// then the `typed` pairs.
pub fn raw_input(
    queue: &[f64],
    typed: &[String],
    screen: [u32; 2],
    pixels_per_point: f32,
    time_s: f64,
    max_texture_side: usize,
) -> egui::RawInput {
    let size = egui::vec2(screen[0] as f32, screen[1] as f32) / pixels_per_point;
    let mut input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, size)),
        time: Some(time_s),
        max_texture_side: Some(max_texture_side),
        events: queue.chunks_exact(3).filter_map(event).chain(typed_events(typed)).collect(),
        ..egui::RawInput::default()
    };
    input.viewports.entry(egui::ViewportId::ROOT).or_default().native_pixels_per_point =
        Some(pixels_per_point);
    input
}

fn event(triple: &[f64]) -> Option<egui::Event> {
    let [kind, x, y] = *triple else { return None };
    let pos = egui::pos2(x as f32, y as f32);
    let button = |pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::default(),
    };
    Some(match kind {
        MOVED => egui::Event::PointerMoved(pos),
        PRESSED => button(true),
        RELEASED => button(false),
        GONE => egui::Event::PointerGone,
        WHEEL => egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            // The page's wheel moves the view down for positive y; egui moves the content.
            delta: -egui::vec2(x as f32, y as f32),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::default(),
        },
        _ => return None,
    })
}

/// `glue.js`'s typing pairs (`text`, characters; `key`, a key's name) as egui events; a key is
/// pressed and released at once, as the page sees only its press.
fn typed_events(typed: &[String]) -> impl Iterator<Item = egui::Event> + '_ {
    typed.chunks_exact(2).flat_map(|pair| match pair[0].as_str() {
        "text" => vec![egui::Event::Text(pair[1].clone())],
        "key" => egui::Key::from_name(&pair[1]).map_or_else(Vec::new, |key| {
            [true, false]
                .map(|pressed| egui::Event::Key {
                    key,
                    physical_key: None,
                    pressed,
                    repeat: false,
                    modifiers: egui::Modifiers::default(),
                })
                .to_vec()
        }),
        _ => Vec::new(),
    })
}
