//! FFmpeg's side of sound (desktop): the audio track of an input video as AAC packets for a
//! recording (AAC is copied unchanged, no generation loss; any other codec FFmpeg decodes is
//! re-encoded to AAC-LC), and the AAC-LC encoder the microphone uses.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use super::{
    CaptureError,
    audio::{AacProfile, AudioPacket, AudioTrack},
};

/// Reads the best audio stream of `path` as AAC: copied when it is AAC, re-encoded otherwise.
/// `Ok(None)` when there is none; an error names what could not be read.
pub fn read_audio(path: &Path) -> Result<Option<AudioTrack>, CaptureError> {
    let error = |problem: String| CaptureError::Open { input: path.display().to_string(), problem };
    ffmpeg::init().map_err(|e| error(format!("FFmpeg failed to start: {e}")))?;
    let mut input =
        ffmpeg::format::input(path).map_err(|e| error(format!("not a readable video ({e})")))?;
    let Some(stream) = input.streams().best(ffmpeg::media::Type::Audio) else { return Ok(None) };
    let index = stream.index();
    let time_base = f64::from(stream.time_base());
    let parameters = stream.parameters();
    let codec = parameters.id();
    let decoder = ffmpeg::codec::context::Context::from_parameters(parameters)
        .and_then(|c| c.decoder().audio())
        .map_err(|e| error(format!("unreadable {codec:?} audio parameters ({e})")))?;
    if codec != ffmpeg::codec::Id::AAC {
        return transcode_to_aac(&mut input, index, time_base, decoder)
            .map(Some)
            .map_err(|e| error(format!("its {codec:?} audio cannot be re-encoded to AAC: {e}")));
    }
    use ffmpeg::codec::profile::{AAC, Profile};
    let profile = match decoder.profile() {
        Profile::AAC(AAC::HE) => AacProfile::He,
        Profile::AAC(AAC::HEv2) => AacProfile::HeV2,
        _ => AacProfile::Lc,
    };
    let (sample_rate, channels) = (decoder.rate(), decoder.channels());
    let mut packets = Vec::new();
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        let (Some(pts), Some(data)) = (packet.pts(), packet.data()) else { continue };
        packets.push(AudioPacket { time_s: pts as f64 * time_base, data: data.to_vec() });
    }
    packets.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    Ok(Some(AudioTrack { profile, sample_rate, channels, packets }))
}

/// AAC-LC bit rate per channel of re-encoded audio.
const AAC_BITS_PER_CHANNEL: usize = 64_000;

/// Decodes the audio stream `index` of `input` and encodes it to AAC-LC with FFmpeg's native
/// encoder (mono stays mono, more than two channels are mixed down to stereo).
fn transcode_to_aac(
    input: &mut ffmpeg::format::context::Input,
    index: usize,
    time_base: f64,
    mut decoder: ffmpeg::decoder::Audio,
) -> Result<AudioTrack, ffmpeg::Error> {
    use ffmpeg::{ChannelLayout, format::Sample, format::sample::Type, frame};
    let channels = decoder.channels().clamp(1, 2);
    let mut aac = AacEncoder::open(decoder.rate(), channels)?;
    if decoder.channel_layout().channels() == 0 {
        let layout = ChannelLayout::default(i32::from(decoder.channels()));
        decoder.set_channel_layout(layout);
    }
    let mut resampler = decoder.resampler(Sample::F32(Type::Planar), aac.layout, decoder.rate())?;
    let mut first_time: Option<f64> = None;
    let mut decoded = frame::Audio::empty();
    let mut drain =
        |decoder: &mut ffmpeg::decoder::Audio, aac: &mut AacEncoder| -> Result<(), ffmpeg::Error> {
            while decoder.receive_frame(&mut decoded).is_ok() {
                // A fresh output frame each time: a reused one keeps its first size as the capacity
                // and the resampler would hold back the rest.
                let mut converted = frame::Audio::empty();
                resampler.run(&decoded, &mut converted)?;
                aac.push(&converted)?;
            }
            Ok(())
        };
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        if first_time.is_none() {
            first_time = packet.pts().map(|pts| pts as f64 * time_base);
        }
        decoder.send_packet(&packet)?;
        drain(&mut decoder, &mut aac)?;
    }
    decoder.send_eof()?;
    drain(&mut decoder, &mut aac)?;
    let rate = aac.rate;
    let mut packets = aac.finish()?;
    // The encoder's priming packet starts before zero. Shifting it to the input's start keeps
    // every packet decodable, at the price of the sound playing one AAC frame late (1024
    // samples, about 21 ms at 48 kHz): MP4 edit lists would hide it, the muxer writes none.
    let start = first_time.unwrap_or(0.0);
    let shift = packets.first().map_or(0.0, |p| p.time_s.min(0.0));
    for packet in &mut packets {
        packet.time_s += start - shift;
    }
    Ok(AudioTrack { profile: AacProfile::Lc, sample_rate: rate, channels, packets })
}

/// FFmpeg's AAC-LC encoder fed planar float samples in any amounts: it takes whole encoder
/// frames (1024 samples) and collects the packets.
pub(super) struct AacEncoder {
    encoder: ffmpeg::encoder::Audio,
    layout: ffmpeg::ChannelLayout,
    rate: u32,
    frame_size: usize,
    /// Samples per channel waiting for a whole frame.
    pending: Vec<Vec<f32>>,
    next_pts: i64,
    packets: Vec<AudioPacket>,
}

impl AacEncoder {
    pub(super) fn open(rate: u32, channels: u16) -> Result<Self, ffmpeg::Error> {
        use ffmpeg::format::{Sample, sample::Type};
        let layout = ffmpeg::ChannelLayout::default(i32::from(channels));
        let codec =
            ffmpeg::encoder::find(ffmpeg::codec::Id::AAC).ok_or(ffmpeg::Error::EncoderNotFound)?;
        let mut settings =
            ffmpeg::codec::context::Context::new_with_codec(codec).encoder().audio()?;
        settings.set_rate(rate as i32);
        settings.set_channel_layout(layout);
        settings.set_format(Sample::F32(Type::Planar));
        settings.set_bit_rate(AAC_BITS_PER_CHANNEL * usize::from(channels));
        settings.set_time_base((1, rate as i32));
        let encoder = settings.open_as(codec)?;
        let frame_size = encoder.frame_size().max(1) as usize;
        Ok(Self {
            encoder,
            layout,
            rate,
            frame_size,
            pending: vec![Vec::new(); usize::from(channels)],
            next_pts: 0,
            packets: Vec::new(),
        })
    }

    /// Adds planar float samples (in this encoder's layout) and encodes every whole frame.
    fn push(&mut self, samples: &ffmpeg::frame::Audio) -> Result<(), ffmpeg::Error> {
        for (plane, pending) in self.pending.iter_mut().enumerate() {
            pending.extend_from_slice(&samples.plane::<f32>(plane)[..samples.samples()]);
        }
        self.encode_whole_frames()
    }

    /// Adds interleaved float samples with `channels` per frame (extra channels are dropped,
    /// a missing second channel repeats the first) and encodes every whole frame.
    pub(super) fn push_interleaved(
        &mut self,
        samples: &[f32],
        channels: usize,
    ) -> Result<(), ffmpeg::Error> {
        let channels = channels.max(1);
        for (plane, pending) in self.pending.iter_mut().enumerate() {
            let source = plane.min(channels - 1);
            pending.extend(samples.chunks_exact(channels).map(|frame| frame[source]));
        }
        self.encode_whole_frames()
    }

    /// Packets finished so far (their times count samples from the first one pushed).
    pub(super) fn take_packets(&mut self) -> Vec<AudioPacket> {
        std::mem::take(&mut self.packets)
    }

    fn encode_whole_frames(&mut self) -> Result<(), ffmpeg::Error> {
        while self.pending[0].len() >= self.frame_size {
            self.encode(self.frame_size)?;
        }
        Ok(())
    }

    fn encode(&mut self, n: usize) -> Result<(), ffmpeg::Error> {
        use ffmpeg::format::{Sample, sample::Type};
        let mut frame = ffmpeg::frame::Audio::new(Sample::F32(Type::Planar), n, self.layout);
        frame.set_rate(self.rate);
        frame.set_pts(Some(self.next_pts));
        for (plane, pending) in self.pending.iter_mut().enumerate() {
            frame.plane_mut::<f32>(plane)[..n].copy_from_slice(&pending[..n]);
            pending.drain(..n);
        }
        self.next_pts += n as i64;
        self.encoder.send_frame(&frame)?;
        self.receive()
    }

    fn receive(&mut self) -> Result<(), ffmpeg::Error> {
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            if let (Some(pts), Some(data)) = (packet.pts(), packet.data()) {
                let time_s = pts as f64 / f64::from(self.rate);
                self.packets.push(AudioPacket { time_s, data: data.to_vec() });
            }
        }
        Ok(())
    }

    /// Encodes the last partial frame, flushes the encoder and returns every packet not yet
    /// taken.
    pub(super) fn finish(mut self) -> Result<Vec<AudioPacket>, ffmpeg::Error> {
        let rest = self.pending[0].len();
        if rest > 0 {
            self.encode(rest)?;
        }
        self.encoder.send_eof()?;
        self.receive()?;
        Ok(self.packets)
    }
}
