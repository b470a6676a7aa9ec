//! Sound for a recording as compressed packets, whichever platform made them: an input file's
//! AAC track (`aac` on desktop) or a live microphone (AAC, or Opus where a browser has no AAC
//! encoder).

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

/// How a live sound's packets are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundCodec {
    /// AAC of a profile.
    Aac(AacProfile),
    /// Opus (48 kHz timing, whatever the input's rate).
    Opus,
}

/// One compressed audio frame.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    /// Presentation time in seconds: from the start of the input (a file's track) or of the
    /// recording (live sound).
    pub time_s: f64,
    /// The raw frame (AAC without ADTS headers, or an Opus packet).
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

/// Packets arriving while a recording runs (the microphone), timed like the video frames.
#[derive(Debug)]
pub struct LiveSound {
    /// How they are compressed.
    pub codec: SoundCodec,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// The packets, in order.
    pub packets: std::sync::mpsc::Receiver<AudioPacket>,
}

/// Where a recording's sound comes from.
#[derive(Debug)]
pub enum Sound {
    /// An input file's track, read in full beforehand.
    File(AudioTrack),
    /// Packets arriving as the recording runs.
    Live(LiveSound),
}
