//! The audio track of an input video, read as compressed packets so a recording can carry it
//! unchanged (no generation loss, no encoder needed).

use std::path::Path;

use ffmpeg_next as ffmpeg;

use super::CaptureError;

/// AAC flavours a recording can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AacProfile {
    /// AAC-LC, by far the most common.
    Lc,
    /// HE-AAC (LC + SBR).
    He,
    /// HE-AAC v2 (+ parametric stereo).
    HeV2,
}

/// One compressed audio frame.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    /// Presentation time in seconds from the start of the input.
    pub time_s: f64,
    /// The raw AAC frame.
    pub data: Vec<u8>,
}

/// An AAC audio track, all packets in presentation order.
#[derive(Debug, Clone)]
pub struct AudioTrack {
    /// AAC profile.
    pub profile: AacProfile,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// The packets.
    pub packets: Vec<AudioPacket>,
}

/// Reads the best audio stream of `path`. `Ok(None)` when there is none; an error names a codec
/// that cannot be copied.
pub fn read_audio(path: &Path) -> Result<Option<AudioTrack>, CaptureError> {
    let error = |problem: String| CaptureError::Open { input: path.display().to_string(), problem };
    ffmpeg::init().map_err(|e| error(format!("FFmpeg failed to start: {e}")))?;
    let mut input =
        ffmpeg::format::input(path).map_err(|e| error(format!("not a readable video ({e})")))?;
    let Some(stream) = input.streams().best(ffmpeg::media::Type::Audio) else { return Ok(None) };
    let index = stream.index();
    let time_base = f64::from(stream.time_base());
    let parameters = stream.parameters();
    if parameters.id() != ffmpeg::codec::Id::AAC {
        return Err(error(format!(
            "its audio is {:?}; only AAC audio can be carried into the recording (convert it with `ffmpeg -c:a aac`)",
            parameters.id()
        )));
    }
    let decoder = ffmpeg::codec::context::Context::from_parameters(parameters)
        .and_then(|c| c.decoder().audio())
        .map_err(|e| error(format!("unreadable audio parameters ({e})")))?;
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
