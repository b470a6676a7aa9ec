//! The phone's microphone while a recording runs: AAudio delivers 16-bit PCM to a `microphone`
//! thread, which encodes it to AAC-LC with MediaCodec and hands the packets to the recorder,
//! timed from the same instant as the video frames.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use dreamlens::{
    capture::{
        CaptureError, MicrophoneStream, Microphones,
        audio::{AacProfile, AudioPacket, LiveSound, SoundCodec},
    },
    record::encoder::EncodeError,
};
use ndk::{
    audio::{AudioDirection, AudioFormat, AudioInputPreset, AudioStream, AudioStreamBuilder},
    media::media_format::MediaFormat,
};

use crate::media_codec::Codec;

const NAME: &str = "the phone's microphone";
/// Asked of AAudio; the stream reports what it really runs at.
const SAMPLE_RATE: i32 = 48_000;
const CHANNELS: i32 = 1;
const AAC_BITRATE: i32 = 128_000;
/// `MediaCodecInfo.CodecProfileLevel.AACObjectLC`.
const AAC_LC: i32 = 2;
/// Frames read per call: about 21 ms at 48 kHz, one AAC frame's worth.
const CHUNK: usize = 1024;
/// How long one read waits for sound before looking whether to stop.
const READ_TIMEOUT_NS: i64 = 100_000_000;

/// The phone's microphones (AAudio picks the input; there is one to choose).
pub struct AAudioMicrophones;

impl Microphones for AAudioMicrophones {
    fn list(&self) -> Vec<String> {
        vec![NAME.to_owned()]
    }

    fn start(
        &self,
        _device: Option<&str>,
        origin: Instant,
    ) -> Result<(Box<dyn MicrophoneStream>, LiveSound), CaptureError> {
        let error = |problem: String| CaptureError::Open { input: NAME.into(), problem };
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_sender, ready) = mpsc::sync_channel::<Result<(u32, u16), String>>(1);
        let (packet_sender, packets) = mpsc::channel::<AudioPacket>();
        let thread_stop = Arc::clone(&stop);
        // AAudio streams stay on the thread that opened them; the thread reports whether the
        // microphone and the encoder started before any sound flows.
        let thread = thread::Builder::new()
            .name("microphone".into())
            .spawn(move || {
                let opened = open().map(|(stream, codec)| {
                    let format = (stream.sample_rate() as u32, stream.channel_count() as u16);
                    (stream, codec, format)
                });
                match opened {
                    Ok((stream, codec, format)) => {
                        let _ = ready_sender.send(Ok(format));
                        if let Err(error) =
                            capture(&stream, codec, format, origin, &thread_stop, &packet_sender)
                        {
                            tracing::warn!("microphone: {error}");
                        }
                        let _ = stream.request_stop();
                    }
                    Err(problem) => {
                        let _ = ready_sender.send(Err(problem));
                    }
                }
            })
            .map_err(|e| error(format!("cannot start the microphone thread: {e}")))?;
        let (sample_rate, channels) = ready
            .recv()
            .map_err(|_| error("the microphone thread stopped".into()))?
            .map_err(error)?;
        Ok((
            Box::new(AAudioMicrophone { stop, thread: Some(thread) }),
            LiveSound { codec: SoundCodec::Aac(AacProfile::Lc), sample_rate, channels, packets },
        ))
    }
}

/// Opens the input stream (the permission must be granted) and the AAC encoder for its format.
fn open() -> Result<(AudioStream, Codec), String> {
    let stream = AudioStreamBuilder::new()
        .and_then(|builder| {
            builder
                .direction(AudioDirection::Input)
                .format(AudioFormat::PCM_I16)
                .sample_rate(SAMPLE_RATE)
                .channel_count(CHANNELS)
                .input_preset(AudioInputPreset::Camcorder)
                .open_stream()
        })
        .map_err(|e| format!("cannot open the microphone (is the permission granted?): {e}"))?;
    stream.request_start().map_err(|e| format!("the microphone did not start: {e}"))?;
    let mut format = MediaFormat::new();
    format.set_str("mime", "audio/mp4a-latm");
    format.set_i32("sample-rate", stream.sample_rate());
    format.set_i32("channel-count", stream.channel_count());
    format.set_i32("aac-profile", AAC_LC);
    format.set_i32("bitrate", AAC_BITRATE);
    format.set_i32("max-input-size", (CHUNK * 2 * stream.channel_count().max(1) as usize) as i32);
    let codec = Codec::start(&format, "audio/mp4a-latm").map_err(|e| e.0)?;
    Ok((stream, codec))
}

/// Reads, encodes and sends until told to stop; the track is timed by samples read since the
/// first, which started `origin.elapsed()` into the recording.
fn capture(
    stream: &AudioStream,
    mut codec: Codec,
    (rate, channels): (u32, u16),
    origin: Instant,
    stop: &AtomicBool,
    packets: &mpsc::Sender<AudioPacket>,
) -> Result<(), EncodeError> {
    let channels = usize::from(channels.max(1));
    let mut samples = vec![0i16; CHUNK * channels];
    let mut read_frames = 0u64;
    let mut start_s: Option<f64> = None;
    let mut send = |output: crate::media_codec::Output<'_>| {
        if !output.is_config() {
            let packet =
                AudioPacket { time_s: output.time_us as f64 * 1e-6, data: output.data.to_vec() };
            // The recorder went away: the rest is not needed.
            let _ = packets.send(packet);
        }
        Ok(())
    };
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `samples` holds CHUNK frames of `channels` i16 samples, the stream's format.
        let frames =
            unsafe { stream.read(samples.as_mut_ptr().cast(), CHUNK as i32, READ_TIMEOUT_NS) }
                .map_err(|e| EncodeError(format!("the microphone failed: {e}")))?
                as usize;
        if frames == 0 {
            continue;
        }
        let start = *start_s.get_or_insert_with(|| origin.elapsed().as_secs_f64());
        let time_s = start + read_frames as f64 / f64::from(rate);
        let bytes: Vec<u8> =
            samples[..frames * channels].iter().flat_map(|s| s.to_le_bytes()).collect();
        codec.queue(&bytes, time_s, 0)?;
        read_frames += frames as u64;
        codec.drain(Duration::ZERO, &mut send)?;
    }
    codec.finish(&mut send)
}

/// A running microphone capture.
struct AAudioMicrophone {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl MicrophoneStream for AAudioMicrophone {
    fn name(&self) -> &str {
        NAME
    }

    fn stop(mut self: Box<Self>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
