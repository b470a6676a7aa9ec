//! The microphone while a live recording runs: cpal delivers samples on its audio thread, a
//! `microphone` thread encodes them to AAC-LC and hands the packets to the recorder, timed from
//! the same instant as the video frames.

use std::{
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::{
    CaptureError, MicrophoneStream, Microphones,
    aac::AacEncoder,
    audio::{AacProfile, AudioPacket, LiveSound, SoundCodec},
};

/// True on a Linux machine with no sound card, no sound server and no ALSA device configured:
/// there alsa-lib prints a screenful of errors for every question cpal asks it, and no
/// microphone can be found anyway.
fn no_sound_system() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let configured = std::env::var_os("ALSA_CONFIG_PATH").is_some()
        || std::path::Path::new("/etc/asound.conf").exists()
        || home.is_some_and(|home| home.join(".asoundrc").exists());
    if configured {
        return false;
    }
    let cards = std::fs::read_to_string("/proc/asound/cards").unwrap_or_default();
    let card =
        cards.lines().any(|line| line.trim_start().starts_with(|c: char| c.is_ascii_digit()));
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from);
    let server = std::env::var_os("PULSE_SERVER").is_some()
        || runtime.is_some_and(|dir| {
            dir.join("pulse/native").exists() || dir.join("pipewire-0").exists()
        });
    !card && !server
}

/// The input devices the platform reports, by name.
pub fn list() -> Vec<String> {
    if no_sound_system() {
        return Vec::new();
    }
    cpal::default_host()
        .input_devices()
        .map(|devices| devices.filter_map(|d| d.name().ok()).collect())
        .unwrap_or_default()
}

/// A running microphone capture; dropping it without [`Microphone::stop`] loses the last
/// fraction of a second.
pub struct Microphone {
    stream: Option<cpal::Stream>,
    thread: Option<thread::JoinHandle<()>>,
    name: String,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The `microphone` thread: encodes the device's chunks as one unbroken AAC track from
/// `origin` and sends its packets, until the device stops.
fn encode_chunks(
    chunks: mpsc::Receiver<Chunk>,
    mut encoder: AacEncoder,
    packet_sender: mpsc::Sender<AudioPacket>,
    rate: u32,
    device_channels: usize,
    origin: Instant,
) {
    let mut priming: Option<f64> = None;
    let mut send = |packets: Vec<AudioPacket>| {
        for mut packet in packets {
            // The encoder's priming packet starts before zero: shifted to the start,
            // the sound plays one AAC frame (about 21 ms) late, as for files.
            let shift = *priming.get_or_insert(-packet.time_s.min(0.0));
            packet.time_s += shift;
            if packet_sender.send(packet).is_err() {
                return;
            }
        }
    };
    // The track is one unbroken run of samples from the recording's start (MP4
    // audio has no gaps): silence fills the time before the first samples and any
    // stretch the device lost.
    let channels = device_channels.max(1);
    let mut sent = 0u64;
    // Silence up to `until_s` (from the origin) when more than 0.1 s is missing.
    let fill = |encoder: &mut AacEncoder, sent: &mut u64, until_s: f64| {
        let missing = (until_s * f64::from(rate)) as i64 - *sent as i64;
        if missing > i64::from(rate / 10) {
            let silence = vec![0.0; missing as usize * channels];
            *sent += missing as u64;
            return encoder.push_interleaved(&silence, channels).is_ok();
        }
        true
    };
    for chunk in chunks {
        let frames = (chunk.samples.len() / channels) as u64;
        let began = chunk.arrived.saturating_duration_since(origin).as_secs_f64()
            - frames as f64 / f64::from(rate);
        if !fill(&mut encoder, &mut sent, began)
            || encoder.push_interleaved(&chunk.samples, channels).is_err()
        {
            return;
        }
        sent += frames;
        send(encoder.take_packets());
    }
    // Samples the device still held when it stopped are silence, not a short track.
    if !fill(&mut encoder, &mut sent, origin.elapsed().as_secs_f64()) {
        return;
    }
    if let Ok(rest) = encoder.finish() {
        send(rest);
    }
}

/// Interleaved samples as cpal delivered them, with when they arrived.
struct Chunk {
    samples: Vec<f32>,
    arrived: Instant,
}

impl Microphone {
    /// Starts the input device whose name contains `device` (the default input with `None`);
    /// packet times count from `origin`. The sound goes to a recorder as [`LiveSound`].
    pub fn start(device: Option<&str>, origin: Instant) -> Result<(Self, LiveSound), CaptureError> {
        let label = device.unwrap_or("the default microphone").to_owned();
        let error = |problem: String| CaptureError::Open { input: label.clone(), problem };
        if no_sound_system() {
            return Err(error("this machine has no sound card and no sound server".into()));
        }
        let host = cpal::default_host();
        let device = match device {
            None => host.default_input_device(),
            Some(wanted) => host
                .input_devices()
                .map_err(|e| error(e.to_string()))?
                .find(|d| d.name().is_ok_and(|n| n.contains(wanted))),
        }
        .ok_or_else(|| error("no such audio input device".into()))?;
        let name = device.name().unwrap_or_else(|_| label.clone());
        let config = device.default_input_config().map_err(|e| error(e.to_string()))?;
        let rate = config.sample_rate().0;
        let device_channels = usize::from(config.channels());
        let channels = config.channels().clamp(1, 2);
        let encoder = AacEncoder::open(rate, channels)
            .map_err(|e| error(format!("cannot start the AAC encoder: {e}")))?;
        let (chunk_sender, chunks) = mpsc::channel::<Chunk>();
        let stream_config: cpal::StreamConfig = config.clone().into();
        let on_error = |e: cpal::StreamError| tracing::warn!("microphone: {e}");
        let pace = Pace::new(rate, device_channels);
        let stream = match config.sample_format() {
            cpal::SampleFormat::F32 => {
                build::<f32>(&device, &stream_config, chunk_sender, pace, on_error)
            }
            cpal::SampleFormat::I16 => {
                build::<i16>(&device, &stream_config, chunk_sender, pace, on_error)
            }
            cpal::SampleFormat::I32 => {
                build::<i32>(&device, &stream_config, chunk_sender, pace, on_error)
            }
            cpal::SampleFormat::U8 => {
                build::<u8>(&device, &stream_config, chunk_sender, pace, on_error)
            }
            other => return Err(error(format!("sample format {other} is not supported"))),
        }
        .map_err(|e| error(e.to_string()))?;
        stream.play().map_err(|e| error(e.to_string()))?;

        let (packet_sender, packets) = mpsc::channel::<AudioPacket>();
        let thread = thread::Builder::new()
            .name("microphone".into())
            .spawn(move || {
                encode_chunks(chunks, encoder, packet_sender, rate, device_channels, origin)
            })
            .map_err(|e| error(format!("cannot start the microphone thread: {e}")))?;
        Ok((
            Self { stream: Some(stream), thread: Some(thread), name },
            LiveSound {
                codec: SoundCodec::Aac(AacProfile::Lc),
                sample_rate: rate,
                channels,
                packets,
            },
        ))
    }

    /// Stops capturing and waits until every packet went to the recorder.
    pub fn stop(mut self) {
        // Dropping the stream drops the sample sender, which ends the encoding thread.
        drop(self.stream.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl MicrophoneStream for Microphone {
    fn name(&self) -> &str {
        &self.name
    }

    fn stop(self: Box<Self>) {
        Microphone::stop(*self);
    }
}

/// The desktop's microphones, through cpal, encoded to AAC by FFmpeg.
#[derive(Debug, Default)]
pub struct DesktopMicrophones;

impl Microphones for DesktopMicrophones {
    fn list(&self) -> Vec<String> {
        list()
    }

    fn start(
        &self,
        device: Option<&str>,
        origin: Instant,
    ) -> Result<(Box<dyn MicrophoneStream>, LiveSound), CaptureError> {
        let (microphone, sound) = Microphone::start(device, origin)?;
        Ok((Box::new(microphone), sound))
    }
}

/// Holds a source that delivers faster than real time (a file-backed or virtual device) to the
/// clock, so its sound stays in step with the video. A sound card is never ahead and never
/// waits.
struct Pace {
    started: Option<Instant>,
    samples: u64,
    rate: u32,
    channels: usize,
}

impl Pace {
    fn new(rate: u32, channels: usize) -> Self {
        Self { started: None, samples: 0, rate: rate.max(1), channels: channels.max(1) }
    }

    fn delivered(&mut self, values: usize) {
        let frames = (values / self.channels) as u64;
        // The clock starts when the first samples began, not when they were delivered: a
        // sound card is then never ahead.
        let started = *self.started.get_or_insert_with(|| {
            let first = Duration::from_secs_f64(frames as f64 / f64::from(self.rate));
            Instant::now().checked_sub(first).unwrap_or_else(Instant::now)
        });
        self.samples += frames;
        let ahead = self.samples as f64 / f64::from(self.rate) - started.elapsed().as_secs_f64();
        if ahead > 0.05 {
            thread::sleep(Duration::from_secs_f64(ahead));
        }
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    sender: mpsc::Sender<Chunk>,
    mut pace: Pace,
    on_error: impl FnMut(cpal::StreamError) + Send + 'static,
) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            // A misbehaving driver must not poison the encoder: non-finite samples become silence.
            let samples = data
                .iter()
                .map(|&s| <f32 as cpal::FromSample<T>>::from_sample_(s))
                .map(|v| if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 })
                .collect();
            let _ = sender.send(Chunk { samples, arrived: Instant::now() });
            pace.delivered(data.len());
        },
        on_error,
        Some(Duration::from_secs(2)),
    )
}
