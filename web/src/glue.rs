//! The page's JavaScript side (`glue.js`): camera, model bytes, encoder, input, elements.

use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    /// Shows a status line (`kind`: `info` or `error`); empty hides it.
    #[wasm_bindgen(js_name = setStatus)]
    pub fn set_status(text: &str, kind: &str);
    /// The first-load progress bar; a negative fraction hides it.
    #[wasm_bindgen(js_name = setProgress)]
    pub fn set_progress(label: &str, fraction: f64);
    /// Runs onnxruntime-web's wasm kernels in its own worker, off the page's thread.
    #[wasm_bindgen(catch, js_name = runWasmModelsInWorker)]
    pub fn run_wasm_models_in_worker() -> Result<(), JsValue>;
    /// Opens the camera; resolves to its handle.
    #[wasm_bindgen(js_name = openCamera)]
    pub fn open_camera(width: u32, height: u32, facing_mode: &str) -> Promise;
    /// The camera's frame size.
    #[wasm_bindgen(js_name = cameraSize)]
    pub fn camera_size(camera: &JsValue) -> Vec<u32>;
    /// The camera's name.
    #[wasm_bindgen(js_name = cameraLabel)]
    pub fn camera_label(camera: &JsValue) -> String;
    /// True once the camera went away.
    #[wasm_bindgen(js_name = cameraEnded)]
    pub fn camera_ended(camera: &JsValue) -> bool;
    /// Frames the camera has delivered.
    #[wasm_bindgen(js_name = cameraFrames)]
    pub fn camera_frames(camera: &JsValue) -> f64;
    /// The camera's video element, for the GPU to copy its picture from.
    #[wasm_bindgen(js_name = cameraVideo)]
    pub fn camera_video(camera: &JsValue) -> web_sys::HtmlVideoElement;
    /// The newest frame as RGBA bytes, shrunk or stretched to `width` x `height`.
    #[wasm_bindgen(js_name = grabFrame)]
    pub fn grab_frame(camera: &JsValue, width: u32, height: u32) -> Uint8Array;
    /// A model file from the page's origin, checked against the sha256 values `accepted`
    /// lists (comma-separated), and cached.
    #[wasm_bindgen(js_name = fetchModel)]
    pub fn fetch_model(url: &str, accepted: &str, on_progress: &Function) -> Promise;
    /// Opens an H.264 encoder.
    #[wasm_bindgen(js_name = openEncoder)]
    pub fn open_encoder(width: u32, height: u32, fps: u32, on_chunk: &Function) -> Promise;
    /// Encodes an RGBA picture; false when the frame was dropped.
    #[wasm_bindgen(js_name = encodeRgba)]
    pub fn encode_rgba(
        recorder: &JsValue,
        rgba: &[u8],
        width: u32,
        height: u32,
        timestamp_us: f64,
        key_frame: bool,
    ) -> bool;
    /// Opens the microphone with a sound encoder (AAC, else Opus) calling
    /// `on_chunk(bytes, timestamp_us)` per packet; resolves to its handle.
    #[wasm_bindgen(js_name = openMicrophone)]
    pub fn open_microphone(on_chunk: &Function) -> Promise;
    /// `[codec, sample rate, channels]` of an open microphone.
    #[wasm_bindgen(js_name = microphoneFormat)]
    pub fn microphone_format(microphone: &JsValue) -> Vec<String>;
    /// Stops the microphone and flushes its encoder.
    #[wasm_bindgen(js_name = closeMicrophone)]
    pub fn close_microphone(microphone: &JsValue) -> Promise;
    /// Resolves after `ms` milliseconds.
    pub fn sleep(ms: u32) -> Promise;
    /// Adds the hidden picture chooser for style pictures; each chosen picture reaches
    /// `on_picture(name, width, height, rgba, reason)` decoded upright (no bytes and the reason
    /// when the browser cannot read it).
    #[wasm_bindgen(js_name = listenStylePicture)]
    pub fn listen_style_picture(on_picture: &Function);
    /// Opens the picture chooser (within the user's tap or click).
    #[wasm_bindgen(js_name = pickStylePicture)]
    pub fn pick_style_picture();
    /// Calls `on_key(key)` for each key pressed.
    #[wasm_bindgen(js_name = listenKeys)]
    pub fn listen_keys(on_key: &Function);
    /// Flushes and closes the encoder.
    #[wasm_bindgen(js_name = closeEncoder)]
    pub fn close_encoder(recorder: &JsValue) -> Promise;
    /// Offers a file to the share sheet, else saves it as a download; resolves to `shared` or
    /// `downloaded`.
    #[wasm_bindgen(js_name = shareOrSave)]
    pub fn share_or_save(bytes: &[u8], name: &str, mime_type: &str) -> Promise;
    /// Queues the canvas's pointer events (mouse, pen, touch) for `take_pointer_events`.
    #[wasm_bindgen(js_name = listenPointer)]
    pub fn listen_pointer(canvas: &web_sys::HtmlCanvasElement);
    /// True when pointer events or typing wait in the queues.
    #[wasm_bindgen(js_name = hasPointerEvents)]
    pub fn has_pointer_events() -> bool;
    /// The queued pointer events as `[kind, x, y]` triples (see `glue.js`).
    #[wasm_bindgen(js_name = takePointerEvents)]
    pub fn take_pointer_events() -> Vec<f64>;
    /// Where the controls' text fields are (`x0, y0, x1, y1` each, CSS pixels) and whether
    /// one edits text: a hidden text element then takes the keyboard (on a phone, brings it up).
    #[wasm_bindgen(js_name = setTextFields)]
    pub fn set_text_fields(canvas: &web_sys::HtmlCanvasElement, fields: &[f64], editing: bool);
    /// The typing queued as `[kind, value]` pairs: `text` and the characters, or `key` and an
    /// editing key's name.
    #[wasm_bindgen(js_name = takeTyped)]
    pub fn take_typed() -> Vec<String>;
    /// `[width, height, device pixels per CSS pixel]` of the canvas on the page.
    #[wasm_bindgen(js_name = canvasLayout)]
    pub fn canvas_layout(canvas: &web_sys::HtmlCanvasElement) -> Vec<f64>;
    /// True when the main pointer is a finger.
    #[wasm_bindgen(js_name = coarsePointer)]
    pub fn coarse_pointer() -> bool;
    /// Loads the page again with one URL parameter changed (removed when `value` is empty).
    #[wasm_bindgen(js_name = reloadWith)]
    pub fn reload_with(name: &str, value: &str);
    /// Full screen on and off.
    #[wasm_bindgen(js_name = toggleFullscreen)]
    pub fn toggle_fullscreen();
    /// Publishes `window.dreamlens.summary()`.
    #[wasm_bindgen(js_name = exposeSummary)]
    pub fn expose_summary(summary: &Function);
}

/// A rejected promise's message.
pub fn message(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}
