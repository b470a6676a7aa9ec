//! Recording in the browser: the page's picture encoded by WebCodecs (H.264, the device's
//! hardware encoder where it has one) into the project's own fragmented-MP4 writer, kept in
//! memory and saved as a download when it ends.

use std::{cell::RefCell, path::Path, rc::Rc};

use dreamlens::record::{EncodedPicture, Mp4Writer, annexb};
use wasm_bindgen::{JsCast, prelude::*};
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::glue;

/// The encoder's frame rate hint and the keyframe interval in frames (one fragment a second).
const FPS: u32 = 30;

type Writer = Rc<RefCell<Option<Mp4Writer<Vec<u8>>>>>;

/// A clip being recorded.
pub struct Recording {
    encoder: JsValue,
    writer: Writer,
    failure: Rc<RefCell<Option<String>>>,
    seconds: f64,
    started_ms: Option<f64>,
    last_ms: f64,
    frames: u64,
    dropped: u64,
    clip: Rc<RefCell<Option<String>>>,
    _on_chunk: Closure<dyn FnMut(js_sys::Uint8Array, bool, f64)>,
}

impl Recording {
    /// Opens the encoder for `size` pictures; `clip` receives the saved file's name.
    pub async fn start(
        size: (u32, u32),
        seconds: f64,
        clip: Rc<RefCell<Option<String>>>,
    ) -> Result<Self, String> {
        let writer: Writer = Rc::new(RefCell::new(Some(Mp4Writer::to_sink(
            Vec::new(),
            Path::new("clip.mp4"),
            size.0,
            size.1,
            1000,
            None,
        ))));
        let failure = Rc::new(RefCell::new(None));
        let (chunk_writer, chunk_failure) = (Rc::clone(&writer), Rc::clone(&failure));
        let on_chunk = Closure::<dyn FnMut(js_sys::Uint8Array, bool, f64)>::new(
            move |bytes: js_sys::Uint8Array, is_key: bool, timestamp_us: f64| {
                let bytes = bytes.to_vec();
                let picture = EncodedPicture {
                    nal_units: annexb::nal_units(&bytes).into_iter().map(<[u8]>::to_vec).collect(),
                    is_key,
                };
                if let Some(writer) = chunk_writer.borrow_mut().as_mut()
                    && let Err(error) = writer.write(timestamp_us / 1e6, &picture)
                {
                    chunk_failure.borrow_mut().get_or_insert(error.to_string());
                }
            },
        );
        let encoder = JsFuture::from(glue::open_encoder(
            size.0,
            size.1,
            FPS,
            on_chunk.as_ref().unchecked_ref(),
        ))
        .await
        .map_err(glue::message)?;
        Ok(Self {
            encoder,
            writer,
            failure,
            seconds,
            started_ms: None,
            last_ms: 0.0,
            frames: 0,
            dropped: 0,
            clip,
            _on_chunk: on_chunk,
        })
    }

    /// Encodes what the canvas shows now, captured at `now_ms`.
    pub fn add_frame(&mut self, canvas: &web_sys::HtmlCanvasElement, now_ms: f64, _index: u64) {
        let started = *self.started_ms.get_or_insert(now_ms);
        let key = self.frames.is_multiple_of(u64::from(FPS));
        if glue::encode_canvas(&self.encoder, canvas, (now_ms - started) * 1000.0, key) {
            self.frames += 1;
            self.last_ms = now_ms;
        } else {
            self.dropped += 1;
        }
    }

    /// True once the asked-for length is recorded.
    pub fn is_full(&self) -> bool {
        self.started_ms.is_some_and(|start| self.last_ms - start >= self.seconds * 1000.0)
    }

    /// The HUD's line for it.
    pub fn hud_line(&self) -> String {
        let seconds = self.started_ms.map_or(0.0, |start| (self.last_ms - start) / 1000.0);
        format!("recording {seconds:.1} s, {} frames, {} dropped", self.frames, self.dropped)
    }

    /// Waits for the encoder, writes the last fragment and saves the clip as a download.
    pub fn finish(self) {
        spawn_local(async move {
            let closed = JsFuture::from(glue::close_encoder(&self.encoder)).await;
            let writer = self.writer.borrow_mut().take();
            let result = match (closed, writer, self.failure.borrow_mut().take()) {
                (Err(error), _, _) => Err(glue::message(error)),
                (_, _, Some(failure)) => Err(failure),
                (Ok(_), None, None) => Err("the recording was already saved".into()),
                (Ok(_), Some(mut writer), None) => writer
                    .finish(1.0 / f64::from(FPS))
                    .map(|()| writer.into_sink())
                    .map_err(|e| e.to_string()),
            };
            match result {
                Ok(bytes) => {
                    let name = format!("dreamlens-{}.mp4", js_sys::Date::now() as u64);
                    glue::save_file(&bytes, &name, "video/mp4");
                    self.clip.replace(Some(name));
                }
                Err(error) => glue::set_status(&format!("the recording failed: {error}"), "error"),
            }
        });
    }
}
