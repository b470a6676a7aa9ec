//! Recording from the live window: the composited picture (as I420 on a real GPU) read back
//! through an asynchronous ring to the recorder thread, the microphone's sound with it, and
//! snapshots; file names are claimed exclusively.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use super::LiveError;
use crate::{
    capture::{MicrophoneStream, audio::Sound},
    platform::{Gallery, MediaKind},
    record::{Pixels, RecordFrame, RecordOptions, Recorder},
    render::{RenderContext, present::Letterbox, readback::ReadbackRing, yuv::I420Converter},
};

use super::{LiveApp, output_names, source::LiveFrame};

pub(super) struct Recording {
    pub(super) recorder: Recorder,
    /// The microphone, when there is one (its AAC packets go straight to the recorder).
    pub(super) microphone: Option<Box<dyn MicrophoneStream>>,
    /// Converts the edited picture to I420 on a real GPU (a software adapter reads RGBA back
    /// and the recorder converts on the CPU, which is faster there).
    pub(super) converter: Option<I420Converter>,
    /// Pictures on their way back from the GPU, tagged with their recording time.
    pub(super) ring: ReadbackRing<f64>,
    /// Size of the pictures in the ring (the converter's, or the edited picture's).
    pub(super) size: (u32, u32),
    /// The edited picture's size when the recording started: a clip keeps one size.
    pub(super) picture_size: (u32, u32),
    /// Where a picture of another shape is fitted into the clip's.
    pub(super) letterbox: Letterbox,
    /// True while pictures are fitted (the notice is given when this changes).
    pub(super) fitting: bool,
    /// The last captured frame recorded.
    pub(super) last_frame: Option<u64>,
    pub(super) path: PathBuf,
    pub(super) started: Instant,
}

impl Recording {
    /// Hands finished readbacks to the encoder (dropping, never waiting, when it is behind).
    pub(super) fn feed(&mut self, pictures: Vec<(f64, Vec<u8>)>) {
        let (width, height) = self.size;
        for (time_s, bytes) in pictures {
            let pixels =
                if self.converter.is_some() { Pixels::I420(bytes) } else { Pixels::Rgba(bytes) };
            self.recorder.try_push(RecordFrame { pixels, width, height, time_s });
        }
    }

    /// Collects the last pictures in flight and closes the file.
    pub(super) fn finish(
        mut self,
        context: Option<&RenderContext>,
    ) -> Result<crate::record::RecordStats, crate::record::RecordError> {
        if let Some(context) = context {
            let last = self.ring.drain(context);
            self.feed(last);
        }
        if let Some(microphone) = self.microphone.take() {
            microphone.stop();
        }
        let dropped_on_gpu = self.ring.dropped;
        self.recorder.finish().map(|stats| crate::record::RecordStats {
            dropped: stats.dropped + dropped_on_gpu,
            ..stats
        })
    }
}

impl LiveApp {
    pub(super) fn toggle_recording(&mut self) {
        self.toggle_recording_to(None);
    }

    pub(super) fn toggle_recording_to(&mut self, path: Option<PathBuf>) {
        if self.recording.is_some() {
            self.stop_recording();
            return;
        }
        let Some(frame) = &self.frame else { return };
        let (width, height) = frame.frame.image.dimensions();
        let path = match path {
            Some(path) => path,
            None => match claim_in(&self.platform.folders.outputs, "mp4") {
                Ok(path) => path,
                Err(error) => {
                    self.notify(format!("Cannot start a recording: {error}"));
                    return;
                }
            },
        };
        let started = Instant::now();
        let (microphone, sound, sound_note) = match self.options.microphone.as_deref() {
            Some("none") => (None, None, "without sound (--microphone none)".to_owned()),
            device => match self.platform.microphones.start(device, started) {
                Ok((microphone, sound)) => {
                    let note = format!("with sound from {}", microphone.name());
                    (Some(microphone), Some(Sound::Live(sound)), note)
                }
                Err(error) => (None, None, format!("without sound: {error}")),
            },
        };
        let encoders = self.platform.video_encoders.as_ref();
        match Recorder::start_with(&path, width, height, RecordOptions::default(), sound, encoders)
        {
            Ok(recorder) => {
                self.notify(format!("Recording to {} {sound_note}", path.display()));
                let Some(gpu) = &self.gpu else { return };
                let converter = (!gpu.context.is_software())
                    .then(|| I420Converter::new(&gpu.context, width, height));
                let (size, ring_height, format) = match &converter {
                    Some(converter) => {
                        let (w, h) = converter.size();
                        ((w, h), h * 3 / 2, wgpu::TextureFormat::R8Unorm)
                    }
                    None => ((width, height), height, wgpu::TextureFormat::Rgba8Unorm),
                };
                let ring = ReadbackRing::new(&gpu.context, size.0, ring_height, format, 3);
                self.recording = Some(Recording {
                    recorder,
                    microphone,
                    converter,
                    ring,
                    size,
                    picture_size: (width, height),
                    letterbox: Letterbox::new((width, height)),
                    fitting: false,
                    last_frame: None,
                    path,
                    started,
                });
            }
            Err(error) => self.notify(error.to_string()),
        }
    }

    /// Ends the recording and saves the clip, saying where.
    fn stop_recording(&mut self) {
        let Some(recording) = self.recording.take() else { return };
        let path = recording.path.clone();
        match recording.finish(self.gpu.as_ref().map(|g| &g.context)) {
            Ok(stats) => {
                let place = shelve(self.platform.gallery.as_deref(), &path, MediaKind::Video);
                self.notify(format!(
                    "Saved {place}: {} frames, {} dropped",
                    stats.frames, stats.dropped
                ));
            }
            Err(error) => self.notify(error.to_string()),
        }
    }

    /// Saves the edited picture (without the controls) as a PNG.
    pub(super) fn snapshot(&mut self) {
        let (Some(gpu), Some(effects)) = (&mut self.gpu, &mut self.effects) else { return };
        let Some(frame) = &self.frame else { return };
        let analysis = effects.latest(frame);
        let outputs = self.platform.folders.outputs.clone();
        let result = effects
            .renderer
            .render(&gpu.context, &frame.frame.image, &analysis)
            .map_err(LiveError::from)
            .and_then(|image| {
                let path = claim_in(&outputs, "png")?;
                image
                    .save_with_format(&path, image::ImageFormat::Png)
                    .map_err(LiveError::Snapshot)?;
                Ok(path)
            });
        match result {
            Ok(path) => {
                let place = shelve(self.platform.gallery.as_deref(), &path, MediaKind::Picture);
                self.notify(format!("Snapshot saved to {place}"));
            }
            Err(error) => self.notify(format!("Snapshot failed: {error}")),
        }
    }

    /// Hands the picture to the recording, once per captured frame.
    pub(super) fn record(&mut self, frame: &LiveFrame, picture: &wgpu::Texture) {
        let Some(gpu) = &mut self.gpu else { return };
        // Recording takes the edited picture without the UI, read back asynchronously: neither
        // the GPU copy nor the encoder ever holds the display back (busy means dropped).
        // Each captured frame is recorded once: the display may show one twice when the source
        // is slower than the screen, and two pictures cannot share a capture time.
        let Some(recording) = self
            .recording
            .as_mut()
            .filter(|r| r.last_frame.is_none_or(|last| last != frame.frame.index))
        else {
            return;
        };
        recording.last_frame = Some(frame.frame.index);
        let frame_time = frame.captured_at.duration_since(recording.started).as_secs_f64().max(0.0);
        let shape = (picture.size().width, picture.size().height);
        let turned = shape != recording.picture_size;
        let mut notice = None;
        if turned != recording.fitting {
            recording.fitting = turned;
            let (width, height) = recording.picture_size;
            notice = Some(if turned {
                format!("The picture turned: the clip keeps its {width}x{height}, letterboxed")
            } else {
                format!("The picture is {width}x{height} again, as the clip")
            });
        }
        // A clip has one shape: a picture of another (the phone turned, another camera mode)
        // is fitted into it, letterboxed, and the clip goes on.
        let picture = recording.letterbox.fit(&gpu.context, &mut gpu.presenter, picture);
        match &recording.converter {
            Some(converter) => {
                let mut encoder =
                    gpu.context.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("recording"),
                    });
                let picture_view = picture.create_view(&wgpu::TextureViewDescriptor::default());
                converter.encode(&gpu.context, &mut encoder, &picture_view, recording.picture_size);
                gpu.context.queue.submit([encoder.finish()]);
                recording.ring.submit(&gpu.context, converter.target(), frame_time);
            }
            None => {
                recording.ring.submit(&gpu.context, picture, frame_time);
            }
        }
        let finished = recording.ring.collect(&gpu.context);
        recording.feed(finished);
        if let Some(notice) = notice {
            self.notify(notice);
        }
    }
}

/// Hands a finished file to the platform's gallery, where there is one; says where it is.
fn shelve(gallery: Option<&dyn Gallery>, path: &Path, kind: MediaKind) -> String {
    match gallery.map(|gallery| gallery.publish(path, kind)) {
        None => path.display().to_string(),
        Some(Ok(place)) => place,
        // The file stays in the outputs folder, whole: only the gallery's copy failed.
        Some(Err(error)) => {
            format!("{} (the gallery could not take it: {error})", path.display())
        }
    }
}

/// A new file `dreamlens-<time>.<extension>` in `folder`, made first if it is missing.
fn claim_in(folder: &Path, extension: &str) -> Result<PathBuf, LiveError> {
    std::fs::create_dir_all(folder)
        .and_then(|()| output_names::claim(folder, output_names::stamp_now(), extension))
        .map_err(|error| LiveError::Outputs { folder: folder.to_owned(), error })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A gallery that takes files or refuses them, and remembers what it was handed.
    struct Shelf {
        refuse: bool,
        handed: Mutex<Vec<(PathBuf, MediaKind)>>,
    }

    impl Gallery for Shelf {
        fn publish(
            &self,
            file: &Path,
            kind: MediaKind,
        ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
            self.handed.lock().expect("lock").push((file.to_owned(), kind));
            if self.refuse {
                return Err("no room".into());
            }
            Ok(format!("Movies/dreamlens/{}", file.file_name().expect("name").display()))
        }
    }

    #[test]
    fn a_finished_file_goes_to_the_gallery_and_the_message_says_where() {
        let clip = Path::new("outputs/dreamlens-1.mp4");
        assert_eq!(shelve(None, clip, MediaKind::Video), "outputs/dreamlens-1.mp4");
        let shelf = Shelf { refuse: false, handed: Mutex::default() };
        assert_eq!(
            shelve(Some(&shelf), clip, MediaKind::Video),
            "Movies/dreamlens/dreamlens-1.mp4"
        );
        assert_eq!(*shelf.handed.lock().expect("lock"), [(clip.to_owned(), MediaKind::Video)]);
        let full = Shelf { refuse: true, handed: Mutex::default() };
        let said = shelve(Some(&full), clip, MediaKind::Picture);
        assert_eq!(said, "outputs/dreamlens-1.mp4 (the gallery could not take it: no room)");
    }
}
