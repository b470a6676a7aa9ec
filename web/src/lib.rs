//! dreamlens in the browser: the shared presets, compositor (WGSL on WebGPU), model contracts and
//! fMP4 writer, with the camera from getUserMedia, models on onnxruntime-web and recording
//! through WebCodecs. Platform code lives here and in `glue.js`; the app's logic is the core's.

mod glue;
mod input;
mod live;
mod options;
mod recording;
mod stages;
mod summary;

use wasm_bindgen::prelude::*;

/// Starts the page.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let text = format!("dreamlens stopped: {info}");
        web_sys::console::error_1(&text.as_str().into());
        glue::set_status(&text, "error");
    }));
    wasm_bindgen_futures::spawn_local(async {
        if let Err(error) = live::run().await {
            web_sys::console::error_1(&error.as_str().into());
            glue::set_status(&error, "error");
        }
    });
}
