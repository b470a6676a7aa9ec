//! Fragmented MP4 on disk: an init segment, then one `moof`+`mdat` fragment about every second,
//! each written and synced as soon as it is complete. A file cut off at any point (the process
//! killed, the power lost, the disk full) still plays up to its last complete fragment.

use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
};

use muxide::{
    api::{AacProfile as MuxAacProfile, AudioCodec},
    fragmented::{FragmentAudioConfig, FragmentConfig, FragmentedMuxer},
};

use super::{RecordError, encoder::EncodedPicture};
use crate::capture::audio::{AacProfile, AudioPacket, Sound};

/// Media timescale: 90 kHz, the usual video clock.
const TIMESCALE: u32 = 90_000;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// Writes encoded pictures to a fragmented MP4 file.
pub struct Mp4Writer {
    file: File,
    path: PathBuf,
    width: u32,
    height: u32,
    fragment_ms: u32,
    muxer: Option<FragmentedMuxer>,
    last_pts: Option<u64>,
    samples: u64,
    /// File length after the last complete fragment.
    committed: u64,
    /// The sound's format: profile, sample rate, channels.
    audio: Option<(AacProfile, u32, u16)>,
    /// Its packets not written yet.
    audio_packets: Vec<AudioPacket>,
    /// Packets still arriving (live sound).
    audio_feed: Option<std::sync::mpsc::Receiver<AudioPacket>>,
    /// Input time of the first video frame; audio is shifted by the same amount.
    origin_s: f64,
    /// Decode times of the first video and audio samples of the fragment being built.
    fragment_starts: (Option<u64>, Option<u64>),
}

impl std::fmt::Debug for Mp4Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Writer")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .finish()
    }
}

impl Mp4Writer {
    /// Creates (or truncates) `path`; fails at once if it cannot be written.
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fragment_ms: u32,
        audio: Option<Sound>,
    ) -> Result<Self, RecordError> {
        let file = File::create(path).map_err(|source| RecordError::io(path, source))?;
        let (format, audio_packets, audio_feed) = match audio {
            Some(Sound::File(track)) => {
                (Some((track.profile, track.sample_rate, track.channels)), track.packets, None)
            }
            Some(Sound::Live(live)) => (
                Some((AacProfile::Lc, live.sample_rate, live.channels)),
                Vec::new(),
                Some(live.packets),
            ),
            None => (None, Vec::new(), None),
        };
        Ok(Self {
            file,
            path: path.to_owned(),
            width,
            height,
            fragment_ms,
            muxer: None,
            last_pts: None,
            samples: 0,
            committed: 0,
            audio: format,
            audio_packets,
            audio_feed,
            origin_s: 0.0,
            fragment_starts: (None, None),
        })
    }

    /// Sets the input time of the first video frame (audio is aligned to it).
    pub fn set_origin(&mut self, origin_s: f64) {
        self.origin_s = origin_s;
    }

    /// Queues the audio packets that start before `until_s` (recording time).
    fn queue_audio(&mut self, until_s: f64) -> Result<(), RecordError> {
        if let Some(feed) = &self.audio_feed {
            self.audio_packets.extend(feed.try_iter());
        }
        let (Some((_, sample_rate, _)), Some(muxer)) = (self.audio, self.muxer.as_mut()) else {
            return Ok(());
        };
        let mut written = 0;
        while let Some(packet) = self.audio_packets.get(written) {
            let time_s = packet.time_s - self.origin_s;
            if time_s >= until_s {
                break;
            }
            written += 1;
            if time_s < 0.0 {
                continue;
            }
            let pts = (time_s * f64::from(sample_rate)).round() as u64;
            self.fragment_starts.1.get_or_insert(pts);
            muxer
                .write_audio(pts, pts, &packet.data)
                .map_err(|e| RecordError::Encode(e.to_string()))?;
        }
        // Written packets are not needed again (a live recording would keep them all).
        self.audio_packets.drain(..written);
        Ok(())
    }

    /// Pictures written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        let written = self.file.write_all(bytes).and_then(|()| self.file.sync_data());
        match written {
            // On disk before the next fragment is built: what was written survives a crash.
            Ok(()) => {
                self.committed += bytes.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Cut a half-written fragment off (shrinking needs no space), so the file ends
                // on a complete fragment and plays cleanly.
                let _ = self.file.set_len(self.committed);
                let _ = self.file.sync_data();
                Err(RecordError::io(&self.path, source))
            }
        }
    }

    /// Adds one picture shown at `time_s`. Timestamps are made strictly increasing.
    pub fn write(&mut self, time_s: f64, picture: &EncodedPicture) -> Result<(), RecordError> {
        if self.muxer.is_none() {
            if !picture.is_key {
                // Nothing decodable precedes the first keyframe.
                return Ok(());
            }
            let find = |kind: u8| {
                picture
                    .nal_units
                    .iter()
                    .find(|n| n.first().is_some_and(|b| b & 0x1f == kind))
                    .cloned()
            };
            let (Some(sps), Some(pps)) = (find(NAL_SPS), find(NAL_PPS)) else {
                return Err(RecordError::Encode("the first keyframe carries no SPS/PPS".into()));
            };
            let mut config = FragmentConfig::new(self.width, self.height, TIMESCALE)
                .with_fragment_duration_ms(self.fragment_ms);
            config.sps = sps;
            config.pps = pps;
            let mut muxer = match self.audio {
                Some((profile, sample_rate, channels)) => {
                    let profile = match profile {
                        AacProfile::Lc => MuxAacProfile::Lc,
                        AacProfile::He => MuxAacProfile::He,
                        AacProfile::HeV2 => MuxAacProfile::Hev2,
                    };
                    let audio_config = FragmentAudioConfig {
                        codec: AudioCodec::Aac(profile),
                        sample_rate,
                        channels,
                    };
                    FragmentedMuxer::new_with_audio(config, audio_config)
                }
                None => FragmentedMuxer::new(config),
            }
            .map_err(|e| RecordError::Encode(e.to_string()))?;
            let init = muxer.init_segment();
            self.write_bytes(&init)?;
            self.muxer = Some(muxer);
        }
        let mut pts = (time_s.max(0.0) * f64::from(TIMESCALE)).round() as u64;
        if let Some(last) = self.last_pts
            && pts <= last
        {
            pts = last + 1;
        }
        let mut sample = Vec::new();
        for nal in &picture.nal_units {
            if nal.first().is_some_and(|b| matches!(b & 0x1f, NAL_SPS | NAL_PPS)) {
                continue;
            }
            sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            sample.extend_from_slice(nal);
        }
        let muxer = self.muxer.as_mut().expect("created above");
        // Start a new fragment at a keyframe once the current one is long enough, so every
        // fragment begins decodable.
        if picture.is_key && muxer.current_fragment_duration_ms() >= u64::from(self.fragment_ms) {
            // The fragment's audio: everything that starts before this keyframe.
            self.queue_audio(pts as f64 / f64::from(TIMESCALE))?;
            self.flush()?;
        }
        self.fragment_starts.0.get_or_insert(pts);
        let muxer = self.muxer.as_mut().expect("created above");
        muxer
            .write_video(pts, pts, &sample, picture.is_key)
            .map_err(|e| RecordError::Encode(e.to_string()))?;
        self.last_pts = Some(pts);
        self.samples += 1;
        Ok(())
    }

    /// Writes the last fragment, with the audio up to the end of the last frame.
    pub fn finish(&mut self, frame_duration_s: f64) -> Result<(), RecordError> {
        if let Some(last) = self.last_pts {
            self.queue_audio(last as f64 / f64::from(TIMESCALE) + frame_duration_s)?;
        }
        self.flush()
    }

    /// Writes the fragment built so far. The muxer places each fragment at the previous one's
    /// end estimated from its average sample duration, which drifts when frames come at
    /// irregular intervals (live capture); each track's decode time is set to the exact time
    /// of its first sample instead.
    fn flush(&mut self) -> Result<(), RecordError> {
        let Some(mut segment) = self.muxer.as_mut().and_then(FragmentedMuxer::flush_segment) else {
            return Ok(());
        };
        let (video, audio) = std::mem::take(&mut self.fragment_starts);
        set_decode_time(&mut segment, VIDEO_TRACK, video);
        set_decode_time(&mut segment, AUDIO_TRACK, audio);
        self.write_bytes(&segment)
    }
}

/// Track ids the muxer gives video and audio.
const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;

/// The child boxes of `bytes[range]`: (type, start, end).
fn boxes(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = range.start;
    while at + 8 <= range.end {
        let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let end = at + size as usize;
        if size < 8 || end > range.end {
            break;
        }
        out.push(([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]], at, end));
        at = end;
    }
    out
}

/// Sets the 64-bit `tfdt` decode time of `track` in a `moof`+`mdat` segment.
fn set_decode_time(segment: &mut [u8], track: u32, time: Option<u64>) {
    let Some(time) = time else { return };
    for (kind, start, end) in boxes(segment, 0..segment.len()) {
        if &kind != b"moof" {
            continue;
        }
        for (kind, start, end) in boxes(segment, start + 8..end) {
            if &kind != b"traf" {
                continue;
            }
            let children = boxes(segment, start + 8..end);
            let id = children.iter().find(|(k, ..)| k == b"tfhd").and_then(|&(_, s, e)| {
                (e >= s + 16).then(|| {
                    u32::from_be_bytes([
                        segment[s + 12],
                        segment[s + 13],
                        segment[s + 14],
                        segment[s + 15],
                    ])
                })
            });
            let tfdt = children.iter().find(|(k, ..)| k == b"tfdt");
            // Version 1: a 64-bit time after the version and flags.
            if let (Some(id), Some(&(_, s, e))) = (id, tfdt)
                && id == track
                && e >= s + 20
                && segment[s + 8] == 1
            {
                segment[s + 12..s + 20].copy_from_slice(&time.to_be_bytes());
            }
        }
    }
}
