//! Recording in the browser: the compositor's picture, read back through the shared
//! asynchronous ring (the frame loop never waits for it), encoded by WebCodecs (H.264, the
//! device's hardware encoder where it has one) into the project's own fragmented-MP4 writer, with
//! the microphone's sound (AAC, or Opus where the browser has no AAC encoder) when it is allowed;
//! kept in memory and handed to the share sheet or saved as a download when it ends.

use std::{cell::RefCell, path::Path, rc::Rc, sync::mpsc, time::Duration};

use dreamlens::{
    capture::audio::{AacProfile, AudioPacket, LiveSound, Sound, SoundCodec},
    record::{EncodedPicture, Mp4Writer, annexb},
    render::{RenderContext, present::Letterbox, present::Presenter, readback::ReadbackRing},
};
use wasm_bindgen::{JsCast, prelude::*};
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::glue;

/// The encoder's frame rate hint, and the keyframe interval in frames (a fragment a second).
const FPS: u32 = 30;
/// Readbacks in flight; a frame finding all of them busy is dropped and counted.
const RING_SLOTS: usize = 3;

type Writer = Rc<RefCell<Option<Mp4Writer<Vec<u8>>>>>;

/// A clip saved by the page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SavedClip {
    /// Its file name.
    pub name: String,
    /// How it left the page: `shared` (the share sheet took it) or `downloaded`.
    pub saved: String,
    /// Pictures written.
    pub frames: u64,
    /// The last picture's time from the first, in seconds.
    pub last_frame_s: f64,
    /// Its sound: `aac` or `opus`, or why it has none.
    pub sound: String,
}

/// The microphone while it records.
struct Microphone {
    handle: JsValue,
    /// What the clip's sound is, for the summary.
    codec: String,
    _on_chunk: Closure<dyn FnMut(js_sys::Uint8Array, f64)>,
}

impl Microphone {
    /// Opens the microphone; its packets arrive on the returned sound, timed on the page's
    /// clock (seconds).
    async fn open() -> Result<(Self, LiveSound), String> {
        let (packets, receiver) = mpsc::channel();
        let on_chunk = Closure::<dyn FnMut(js_sys::Uint8Array, f64)>::new(
            move |bytes: js_sys::Uint8Array, timestamp_us: f64| {
                // The writer may be gone (the clip saved); late packets have nowhere to go.
                let _ =
                    packets.send(AudioPacket { time_s: timestamp_us / 1e6, data: bytes.to_vec() });
            },
        );
        let handle = JsFuture::from(glue::open_microphone(on_chunk.as_ref().unchecked_ref()))
            .await
            .map_err(glue::message)?;
        let format = glue::microphone_format(&handle);
        let (codec, rate, channels) = match &format[..] {
            [codec, rate, channels] => (codec.clone(), rate.parse().ok(), channels.parse().ok()),
            _ => (String::new(), None, None),
        };
        let sound_codec = match codec.as_str() {
            "aac" => SoundCodec::Aac(AacProfile::Lc),
            "opus" => SoundCodec::Opus,
            other => return Err(format!("the microphone's encoder gave `{other}` sound")),
        };
        let (Some(sample_rate), Some(channels)) = (rate, channels) else {
            return Err(format!("the microphone's format reads {format:?}"));
        };
        let sound = LiveSound { codec: sound_codec, sample_rate, channels, packets: receiver };
        Ok((Self { handle, codec, _on_chunk: on_chunk }, sound))
    }
}

/// A clip being recorded.
pub struct Recording {
    encoder: JsValue,
    microphone: Option<Microphone>,
    /// The clip's sound: `aac`, `opus`, or why it has none.
    sound: String,
    writer: Writer,
    failure: Rc<RefCell<Option<String>>>,
    ring: ReadbackRing<f64>,
    size: (u32, u32),
    /// Pictures of another shape (the phone turned) go into the clip letterboxed.
    letterbox: Letterbox,
    seconds: f64,
    started_ms: Option<f64>,
    last_ms: f64,
    encoded: u64,
    last_timestamp_us: f64,
    dropped: u64,
    _on_chunk: Closure<dyn FnMut(js_sys::Uint8Array, bool, f64)>,
}

impl Recording {
    /// Opens the encoder for `size` pictures of `seconds` (infinite: until stopped), and the
    /// microphone when `with_sound` (a clip without sound says why in [`Recording::sound`]).
    pub async fn start(
        context: &RenderContext,
        size: (u32, u32),
        seconds: f64,
        with_sound: bool,
    ) -> Result<Self, String> {
        let writer: Writer = Rc::new(RefCell::new(None));
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
        let (microphone, sound, audio) = if with_sound {
            match Microphone::open().await {
                Ok((microphone, live)) => {
                    let codec = microphone.codec.clone();
                    (Some(microphone), codec, Some(Sound::Live(live)))
                }
                Err(reason) => (None, format!("none: {reason}"), None),
            }
        } else {
            (None, "none: the microphone is off (microphone=none)".to_owned(), None)
        };
        let clip =
            Mp4Writer::to_sink(Vec::new(), Path::new("clip.mp4"), size.0, size.1, 1000, audio);
        writer.borrow_mut().replace(clip);
        let ring =
            ReadbackRing::new(context, size.0, size.1, wgpu::TextureFormat::Rgba8Unorm, RING_SLOTS);
        Ok(Self {
            encoder,
            microphone,
            sound,
            writer,
            failure,
            ring,
            size,
            letterbox: Letterbox::new(size),
            seconds,
            started_ms: None,
            last_ms: 0.0,
            encoded: 0,
            last_timestamp_us: 0.0,
            dropped: 0,
            _on_chunk: on_chunk,
        })
    }

    /// What the clip's sound is: `aac`, `opus`, or `none: ` and why.
    pub fn sound(&self) -> &str {
        &self.sound
    }

    /// Queues a copy of the picture shown at `now_ms` (letterboxed by `presenter` into the
    /// clip's shape when it has another), and encodes the copies that arrived.
    pub fn add_frame(
        &mut self,
        context: &RenderContext,
        presenter: &mut Presenter,
        picture: &wgpu::Texture,
        now_ms: f64,
    ) {
        if self.started_ms.is_none()
            && let Some(writer) = self.writer.borrow_mut().as_mut()
        {
            // The sound is timed on the page's clock; the clip starts with its first picture.
            writer.set_origin(now_ms / 1e3);
        }
        let started = *self.started_ms.get_or_insert(now_ms);
        let picture = self.letterbox.fit(context, presenter, picture);
        if self.ring.submit(context, picture, (now_ms - started) * 1000.0) {
            self.last_ms = now_ms;
        }
        self.encode_arrived(context);
    }

    fn encode_arrived(&mut self, context: &RenderContext) {
        for (timestamp_us, rgba) in self.ring.collect(context) {
            let key = self.encoded.is_multiple_of(u64::from(FPS));
            if glue::encode_rgba(&self.encoder, &rgba, self.size.0, self.size.1, timestamp_us, key)
            {
                self.encoded += 1;
                self.last_timestamp_us = timestamp_us;
            } else {
                self.dropped += 1;
            }
        }
    }

    /// True once the asked-for length is recorded.
    pub fn is_full(&self) -> bool {
        self.started_ms.is_some_and(|start| self.last_ms - start >= self.seconds * 1000.0)
    }

    /// For the HUD: the length recorded so far and the frames dropped.
    pub fn progress(&self) -> (Duration, u64) {
        let seconds = self.started_ms.map_or(0.0, |start| (self.last_ms - start) / 1000.0);
        (Duration::from_secs_f64(seconds.max(0.0)), self.dropped + self.ring.dropped)
    }

    /// Encodes the copies still in flight, waits for the encoder, writes the last fragment and
    /// hands the clip to the share sheet or saves it as a download; `clip` then holds its file
    /// name.
    pub fn finish(mut self, context: RenderContext, clip: Rc<RefCell<Option<SavedClip>>>) {
        spawn_local(async move {
            while self.ring.in_flight() > 0 {
                let _ = JsFuture::from(glue::sleep(5)).await;
                self.encode_arrived(&context);
            }
            let closed = JsFuture::from(glue::close_encoder(&self.encoder)).await;
            if let Some(microphone) = self.microphone.take()
                && let Err(error) = JsFuture::from(glue::close_microphone(&microphone.handle)).await
            {
                // The pictures are kept; the sound stops where its encoder failed.
                glue::set_status(
                    &format!("the sound stopped early: {}", glue::message(error)),
                    "error",
                );
            }
            let writer = self.writer.borrow_mut().take();
            let failure = self.failure.borrow_mut().take();
            let result = match (closed, writer, failure) {
                (Err(error), _, _) => Err(glue::message(error)),
                (_, _, Some(failure)) => Err(failure),
                (Ok(_), None, None) => Err("the recording was already saved".into()),
                (Ok(_), Some(mut writer), None) => {
                    let frames = writer.samples();
                    writer
                        .finish(1.0 / f64::from(FPS))
                        .map(|()| (writer.into_sink(), frames))
                        .map_err(|e| e.to_string())
                }
            };
            match result {
                Ok((bytes, frames)) => {
                    let name = format!("dreamlens-{}.mp4", js_sys::Date::now() as u64);
                    let saved = JsFuture::from(glue::share_or_save(&bytes, &name, "video/mp4"))
                        .await
                        .ok()
                        .and_then(|how| how.as_string())
                        .unwrap_or_default();
                    let last_frame_s = self.last_timestamp_us / 1e6;
                    let sound = self.sound.clone();
                    clip.replace(Some(SavedClip { name, frames, last_frame_s, saved, sound }));
                }
                Err(error) => glue::set_status(&format!("the recording failed: {error}"), "error"),
            }
        });
    }
}
