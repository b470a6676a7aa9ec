//! Fragmented MP4 on disk: an init segment, then one `moof`+`mdat` fragment about every second,
//! each written and synced as soon as it is complete. A file cut off at any point (the process
//! killed, the power lost, the disk full) still plays up to its last complete fragment.

use std::{
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
};

use muxide::{
    api::{AacProfile as MuxAacProfile, AudioCodec},
    fragmented::{FragmentAudioConfig, FragmentConfig, FragmentedMuxer},
};

use super::{RecordError, encoder::EncodedPicture};
use crate::capture::audio::{AacProfile, AudioPacket, Sound, SoundCodec};

/// Media timescale: 90 kHz, the usual video clock.
const TIMESCALE: u32 = 90_000;
/// Opus's timescale in MP4 (RFC 7845 times every Opus stream at 48 kHz).
const OPUS_TIMESCALE: u32 = 48_000;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// The `colr` box (nclx) matching the stream's colour description
/// (the encoder's VUI says the same): BT.709 primaries, sRGB transfer, BT.601 matrix,
/// limited range. Players that read the container rather than the stream see the same.
const COLOUR_BOX: [u8; 19] =
    [0, 0, 0, 19, b'c', b'o', b'l', b'r', b'n', b'c', b'l', b'x', 0, 1, 0, 13, 0, 6, 0];

/// Boxes holding only boxes, on the way from `moov` down to the video sample entry.
const CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];

/// `init` with [`COLOUR_BOX`] appended inside its `avc1` sample entry and every enclosing box
/// grown to match; `None` when the layout is not the one expected (then nothing is changed).
fn with_colour_box(init: &[u8]) -> Option<Vec<u8>> {
    let path = path_to_avc1(init, 0, init.len())?;
    let &avc1 = path.last()?;
    let end = avc1 + box_size(init, avc1)?;
    let mut out = Vec::with_capacity(init.len() + COLOUR_BOX.len());
    out.extend_from_slice(&init[..end]);
    out.extend_from_slice(&COLOUR_BOX);
    out.extend_from_slice(&init[end..]);
    for offset in path {
        let grown = u32::try_from(box_size(init, offset)? + COLOUR_BOX.len()).ok()?;
        out[offset..offset + 4].copy_from_slice(&grown.to_be_bytes());
    }
    Some(out)
}

/// Offsets of the boxes from the outermost container down to `avc1`, searching `[start, end)`.
fn path_to_avc1(buf: &[u8], mut start: usize, end: usize) -> Option<Vec<usize>> {
    while start + 8 <= end {
        let size = box_size(buf, start)?;
        if size < 8 || start + size > end {
            return None;
        }
        let kind = &buf[start + 4..start + 8];
        let children = if CONTAINERS.iter().any(|c| &c[..] == kind) {
            Some(start + 8)
        } else if kind == b"stsd" {
            Some(start + 16) // version, flags and entry count come first
        } else if kind == b"avc1" {
            return Some(vec![start]);
        } else {
            None
        };
        if let Some(children) = children
            && let Some(mut path) = path_to_avc1(buf, children, start + size)
        {
            path.insert(0, start);
            return Some(path);
        }
        start += size;
    }
    None
}

/// The 32-bit size of the box at `offset` (64-bit sizes are not expected in an init segment).
fn box_size(buf: &[u8], offset: usize) -> Option<usize> {
    let bytes = buf.get(offset..offset + 4)?;
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    (size >= 8).then_some(size as usize)
}

/// Writes encoded pictures to a fragmented MP4 file.
/// Where the fragments go: each append is complete and durable when it returns (a synced file
/// on disk), and a failed append can be cut back to the last complete fragment. The browser
/// keeps the clip in memory (`Vec<u8>`) until it is saved.
pub trait FragmentSink {
    /// Appends `bytes` and makes them durable.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Cuts the output back to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl FragmentSink for File {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        // On disk before the next fragment is built: what was written survives a crash.
        self.write_all(bytes).and_then(|()| self.sync_data())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        // Shrinking needs no space, so this works on a full disk too.
        self.set_len(len).and_then(|()| self.sync_data())
    }
}

impl FragmentSink for Vec<u8> {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        Vec::truncate(self, usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }
}

/// A fragmented MP4 being written to a file (or any [`FragmentSink`]).
pub struct Mp4Writer<S: FragmentSink = File> {
    file: S,
    path: PathBuf,
    width: u32,
    height: u32,
    fragment_ms: u32,
    muxer: Option<FragmentedMuxer>,
    last_pts: Option<u64>,
    samples: u64,
    /// File length after the last complete fragment.
    committed: u64,
    /// The sound's format, sample rate (its timescale) and channels.
    audio: Option<(SoundCodec, u32, u16)>,
    /// Its packets not written yet.
    audio_packets: Vec<AudioPacket>,
    /// Packets still arriving (live sound).
    audio_feed: Option<std::sync::mpsc::Receiver<AudioPacket>>,
    /// Input time of the first video frame; audio is shifted by the same amount.
    origin_s: f64,
    /// Decode times of the first video and audio samples of the fragment being built.
    fragment_starts: (Option<u64>, Option<u64>),
}

impl<S: FragmentSink> std::fmt::Debug for Mp4Writer<S> {
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
        Ok(Self::to_sink(file, path, width, height, fragment_ms, audio))
    }
}

impl<S: FragmentSink> Mp4Writer<S> {
    /// Writes into `sink`; `name` names the clip in errors.
    pub fn to_sink(
        sink: S,
        name: &Path,
        width: u32,
        height: u32,
        fragment_ms: u32,
        audio: Option<Sound>,
    ) -> Self {
        let file = sink;
        let path = name;
        let (format, audio_packets, audio_feed) = match audio {
            Some(Sound::File(track)) => (
                Some((SoundCodec::Aac(track.profile), track.sample_rate, track.channels)),
                track.packets,
                None,
            ),
            Some(Sound::Live(live)) => {
                // Opus in MP4 is timed at 48 kHz whatever rate it was encoded from.
                let rate = match live.codec {
                    SoundCodec::Opus => OPUS_TIMESCALE,
                    SoundCodec::Aac(_) => live.sample_rate,
                };
                (Some((live.codec, rate, live.channels)), Vec::new(), Some(live.packets))
            }
            None => (None, Vec::new(), None),
        };
        Self {
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
        }
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
                .map_err(|cause| RecordError::Mux { cause })?;
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
        match self.file.append(bytes) {
            Ok(()) => {
                self.committed += bytes.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Cut a half-written fragment off, so the file ends on a complete fragment
                // and plays cleanly.
                let _ = self.file.truncate(self.committed);
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
                return Err(RecordError::NoParameterSets);
            };
            let mut config = FragmentConfig::new(self.width, self.height, TIMESCALE)
                .with_fragment_duration_ms(self.fragment_ms);
            config.sps = sps;
            config.pps = pps;
            let mut muxer = match self.audio {
                Some((format, sample_rate, channels)) => {
                    let codec = match format {
                        SoundCodec::Aac(AacProfile::Lc) => AudioCodec::Aac(MuxAacProfile::Lc),
                        SoundCodec::Aac(AacProfile::He) => AudioCodec::Aac(MuxAacProfile::He),
                        SoundCodec::Aac(AacProfile::HeV2) => AudioCodec::Aac(MuxAacProfile::Hev2),
                        SoundCodec::Opus => AudioCodec::Opus,
                    };
                    let audio_config = FragmentAudioConfig { codec, sample_rate, channels };
                    FragmentedMuxer::new_with_audio(config, audio_config)
                }
                None => FragmentedMuxer::new(config),
            }
            .map_err(|cause| RecordError::Mux { cause })?;
            let init = muxer.init_segment();
            let init = with_colour_box(&init).unwrap_or_else(|| {
                tracing::warn!("the MP4 init segment has an unexpected layout; no colr box added");
                init
            });
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
            .map_err(|cause| RecordError::Mux { cause })?;
        self.last_pts = Some(pts);
        self.samples += 1;
        Ok(())
    }

    /// The sink, with every fragment written so far (call [`Mp4Writer::finish`] first).
    pub fn into_sink(self) -> S {
        self.file
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
